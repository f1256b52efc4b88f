//! A worker's side of its control socket: tells the parent when the worker is ready,
//! asks it to claim cluster-task periods (see `claims`), and ends the worker when the
//! parent is gone.
//!
//! The parent holds the other end and never hands it to anyone, so when the parent dies,
//! even by SIGKILL, the worker reads end-of-file here. The kernel's parent-death signal
//! (SIGUSR2, set before exec) is the second way the news arrives.

// Without feature `coordination`, nothing asks the parent to claim.
#![cfg_attr(not(feature = "coordination"), allow(dead_code))]

use std::collections::HashMap;
use std::io;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use super::super::protocol::{
    Frame, Frames, Outcome, PONG, READY, RECYCLE, claim_frame, last_metrics_frame, metrics_frame,
};
use super::marker::{Marker, take_control};
use crate::coordination::AskParent;
use crate::future::BoxFuture;

/// A worker's connection to its parent.
#[derive(Debug)]
pub(in crate::launcher) struct ParentLink {
    control: UnixStream,
    /// Frames to the parent, written one after the other by one task, so that they
    /// never interleave (a scrape's answer can be larger than the socket's buffer).
    out: mpsc::UnboundedSender<Outgoing>,
    /// The other end of `out`, until the writer task takes it.
    queued: Mutex<Option<mpsc::UnboundedReceiver<Outgoing>>>,
    parent: i32,
    claims: Arc<Claims>,
}

/// A frame for the parent, and who waits until it is written.
#[derive(Debug)]
struct Outgoing {
    frame: Vec<u8>,
    written: Option<oneshot::Sender<()>>,
}

/// How long a stopping worker waits for its last metrics to reach the socket.
const LAST_METRICS_WAIT: Duration = Duration::from_secs(1);

/// The claims asked of the parent and not answered yet.
#[derive(Debug, Default)]
struct Claims {
    next: AtomicU32,
    waiting: Mutex<HashMap<u32, oneshot::Sender<Outcome>>>,
}

impl Claims {
    fn waiting(&self) -> std::sync::MutexGuard<'_, HashMap<u32, oneshot::Sender<Outcome>>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Forgets a claim whose asker stopped waiting (its answer came, or it gave up).
struct Asked<'a>(&'a Claims, u32);

impl Drop for Asked<'_> {
    fn drop(&mut self) {
        self.0.waiting().remove(&self.1);
    }
}

/// What the coordinator of a worker asks its parent through.
#[derive(Debug)]
struct ParentAsker {
    out: mpsc::UnboundedSender<Outgoing>,
    claims: Arc<Claims>,
}

impl AskParent for ParentAsker {
    fn claim<'a>(
        &'a self,
        task: &'a str,
        every: Duration,
    ) -> BoxFuture<'a, Result<Option<u64>, String>> {
        Box::pin(async move {
            let id = self.claims.next.fetch_add(1, Ordering::Relaxed);
            let (answer, answered) = oneshot::channel();
            self.claims.waiting().insert(id, answer);
            let _asked = Asked(&self.claims, id);
            write_frame(&self.out, claim_frame(id, task, every))
                .map_err(|err| format!("cannot ask the parent: {err}"))?;
            match answered.await {
                Ok(Outcome::Run(period)) => Ok(Some(period)),
                Ok(Outcome::Elsewhere) => Ok(None),
                Ok(Outcome::Failed(reason)) => Err(reason),
                Err(_) => Err("the parent closed the control socket".to_owned()),
            }
        })
    }
}

/// Queues one whole frame for the writer task.
fn write_frame(out: &mpsc::UnboundedSender<Outgoing>, frame: Vec<u8>) -> io::Result<()> {
    let outgoing = Outgoing {
        frame,
        written: None,
    };
    out.send(outgoing)
        .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the control socket is closed"))
}

impl ParentLink {
    /// Takes the control socket kept since the marker was read. Only the first call
    /// gets it.
    pub(in crate::launcher) fn take(marker: &Marker) -> io::Result<Self> {
        let control = UnixStream::from(take_control()?);
        control.set_nonblocking(true)?;
        let (out, queued) = mpsc::unbounded_channel();
        Ok(ParentLink {
            control,
            out,
            queued: Mutex::new(Some(queued)),
            parent: marker.parent,
            claims: Arc::default(),
        })
    }

    /// Whether the parent that started this worker is gone (the worker was adopted).
    pub(in crate::launcher) fn orphaned(&self) -> bool {
        rustix::process::getppid().map(|pid| pid.as_raw_pid()) != Some(self.parent)
    }

    /// The way this worker's coordinator asks the parent to claim cluster-task periods.
    pub(in crate::launcher) fn asker(&self) -> Arc<dyn AskParent> {
        Arc::new(ParentAsker {
            out: self.out.clone(),
            claims: Arc::clone(&self.claims),
        })
    }

    /// Watches the control socket in a task of its own: hands the parent's answers to
    /// the claims waiting for them, answers its heartbeat (from this task, so that a
    /// runtime that runs no task any more goes silent) and its scrapes, marks the
    /// process draining when told, and exits the process with status 1 as soon as the
    /// parent is gone. Another task writes the frames queued for the parent.
    pub(in crate::launcher) fn watch_parent(&self) -> io::Result<()> {
        let mut reader = tokio::net::UnixStream::from_std(self.control.try_clone()?)?;
        let mut writer = tokio::net::UnixStream::from_std(self.control.try_clone()?)?;
        if self.orphaned() {
            parent_died();
        }
        let queued = self
            .queued
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(mut queued) = queued {
            tokio::spawn(
                async move {
                    while let Some(Outgoing { frame, written }) = queued.recv().await {
                        // The reader sees the parent gone and ends the process.
                        if writer.write_all(&frame).await.is_err() {
                            return;
                        }
                        if let Some(written) = written {
                            let _ = written.send(());
                        }
                    }
                }
                .in_current_span(),
            );
        }
        let claims = Arc::clone(&self.claims);
        let out = self.out.clone();
        tokio::spawn(
            async move {
                let mut buf = vec![0u8; 16 << 10];
                let mut frames = Frames::default();
                loop {
                    match reader.read(&mut buf).await {
                        Ok(0) => parent_died(),
                        Ok(n) => {
                            frames.push(&buf[..n]);
                            while let Some(frame) = frames.next_frame() {
                                match frame {
                                    Frame::Answer { id, outcome } => {
                                        if let Some(waiting) = claims.waiting().remove(&id) {
                                            let _ = waiting.send(outcome);
                                        }
                                    }
                                    Frame::Ping => {
                                        let _ = write_frame(&out, vec![PONG]);
                                    }
                                    Frame::Scrape { id } => {
                                        let metrics = crate::metrics::encoded();
                                        let _ = write_frame(&out, metrics_frame(id, &metrics));
                                    }
                                    Frame::Drain => crate::service::begin_draining(),
                                    _ => {}
                                }
                            }
                        }
                        Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                        Err(err) => {
                            tracing::error!(error = %err, "cannot read the control socket");
                            parent_died()
                        }
                    }
                }
            }
            // What it logs (the parent's death above all) carries the worker's span.
            .in_current_span(),
        );
        Ok(())
    }

    /// Asks the parent to replace this worker: it served its `max_requests`.
    pub(in crate::launcher) fn report_recycle(&self) {
        if let Err(err) = write_frame(&self.out, vec![RECYCLE]) {
            tracing::warn!(error = %err, "cannot ask the parent to replace this worker");
        }
    }

    /// Sends the parent this worker's metrics once more, as its services have stopped,
    /// and waits (a moment at most) until they are written: what it counted since the
    /// last scrape then stays in the host's counters.
    pub(in crate::launcher) async fn send_last_metrics(&self) {
        if !crate::metrics::enabled() {
            return;
        }
        let (written, done) = oneshot::channel();
        let outgoing = Outgoing {
            frame: last_metrics_frame(&crate::metrics::encoded()),
            written: Some(written),
        };
        if self.out.send(outgoing).is_ok() {
            let _ = tokio::time::timeout(LAST_METRICS_WAIT, done).await;
        }
    }

    /// Tells the parent that this worker's services are up.
    pub(in crate::launcher) fn report_ready(&self) {
        if let Err(err) = write_frame(&self.out, vec![READY]) {
            tracing::warn!(error = %err, "cannot tell the parent that this worker is ready");
        }
    }
}

/// What a worker does when its parent is gone: no graceful stop, nobody would wait for
/// it, and a new parent may already run the same services. The news can come twice at
/// once (end-of-file on the control socket, the parent-death signal): the first caller
/// says it and exits, a second waits for that exit.
pub(in crate::launcher) fn parent_died() -> ! {
    static SAID: AtomicBool = AtomicBool::new(false);
    if SAID.swap(true, Ordering::SeqCst) {
        loop {
            std::thread::park();
        }
    }
    // The worker's span carries its service, index and pid.
    tracing::error!("parent process has died unexpectedly, exiting");
    std::process::exit(1)
}
