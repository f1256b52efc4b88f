//! The parent's side of a worker's control socket: the configuration handed over, then
//! the worker's readiness reports and its claims of cluster-task periods, each answered
//! (claimed on the parent's membership of the coordination group), and the heartbeat:
//! a worker whose runtime stops answering is logged, sent SIGABRT, then SIGKILL.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::super::protocol::{Frame, Frames, Outcome, PING, answer_frame};
use super::super::worker::handover_frame;
use super::scrape::Slot;
use crate::config::{Config, Heartbeat};

/// The supervisor hears of a worker's answers this often at most.
const HEARD_AT_MOST_EVERY: Duration = Duration::from_secs(1);

/// How long a silent worker has, after SIGABRT (and the core it may write), before
/// SIGKILL.
const ABORT_GRACE: Duration = Duration::from_secs(5);

/// What a worker's control socket tells the supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WorkerEvent {
    /// Its services are up (or reset).
    Ready(i32),
    /// Its runtime answered the heartbeat.
    Heard(i32),
    /// Its runtime has not answered for this long: it is being killed.
    Silent(i32, Duration),
    /// It served its `max_requests`: replace it.
    ServedItsRequests(i32),
}

/// Claims one worker may have under way at once; more are answered with a refusal at
/// once, so a worker gone wrong cannot pile up tasks in its parent.
const MAX_CLAIMS_IN_FLIGHT: usize = 64;

/// Hands worker `pid` the configuration its siblings run on, then reads its readiness
/// reports and claims (answering each), and checks its heartbeat, in a task that holds
/// the parent's end of its control socket until the worker closes its own. What it
/// learns goes to `events`; the sender returned writes frames to the worker (keep it
/// no longer than the worker lives).
pub(super) fn watch(
    conf: &Config,
    pid: i32,
    control: std::os::unix::net::UnixStream,
    events: mpsc::UnboundedSender<WorkerEvent>,
    heartbeat: Option<Heartbeat>,
    slot: Slot,
) -> std::io::Result<mpsc::UnboundedSender<Vec<u8>>> {
    control.set_nonblocking(true)?;
    let mut control = tokio::net::UnixStream::from_std(control)?;
    let values = handover_frame(&conf.snapshot().to_bytes(), &conf.sources().to_bytes());
    let (answers, mut to_send) = mpsc::unbounded_channel::<Vec<u8>>();
    let to_worker = answers.clone();
    slot.started(pid, to_worker.clone());
    tokio::spawn(async move {
        // Side by side: a program that does not read the configuration (a `main` of its
        // own) must still be heard when it is ready. Borrowed halves: dropping one does
        // not shut the socket down.
        let (mut reader, mut writer) = control.split();
        // The clock starts at the first answer: a worker still starting (a `main` that
        // loads for minutes before its launcher runs) reads no ping yet.
        let last_heard: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
        let write = async {
            if let Err(err) = writer.write_all(&values).await {
                // The worker reads end-of-file or a short frame, and gives up.
                tracing::debug!(pid, error = %err, "cannot hand the configuration to the worker");
                return;
            }
            let mut pings = heartbeat.map(|beat| tokio::time::interval(beat.interval));
            loop {
                let frame = tokio::select! {
                    frame = to_send.recv() => match frame {
                        Some(frame) => frame,
                        None => return,
                    },
                    _ = async { pings.as_mut()?.tick().await; Some(()) }, if pings.is_some() => vec![PING],
                };
                if writer.write_all(&frame).await.is_err() {
                    return;
                }
            }
        };
        let silence = {
            let last_heard = Arc::clone(&last_heard);
            let events = events.clone();
            async move {
                let Some(beat) = heartbeat else {
                    return std::future::pending().await;
                };
                loop {
                    tokio::time::sleep(beat.interval).await;
                    let heard = *last_heard.lock().unwrap_or_else(PoisonError::into_inner);
                    let Some(silent) = heard.map(|at| at.elapsed()) else {
                        continue;
                    };
                    if silent > beat.timeout {
                        let _ = events.send(WorkerEvent::Silent(pid, silent));
                        abort(pid).await;
                        return;
                    }
                }
            }
        };
        let claims_in_flight = Arc::new(tokio::sync::Semaphore::new(MAX_CLAIMS_IN_FLIGHT));
        let frames_of = &slot;
        let read = async move {
            let mut buf = vec![0u8; 16 << 10];
            let mut frames = Frames::default();
            // When the supervisor was last told of an answer.
            let mut told: Option<Instant> = None;
            let mut asked_to_recycle = false;
            while let Ok(n @ 1..) = reader.read(&mut buf).await {
                frames.push(&buf[..n]);
                while let Some(frame) = frames.next_frame() {
                    match frame {
                        Frame::Ready => {
                            let _ = events.send(WorkerEvent::Ready(pid));
                        }
                        // Once: a worker is replaced once, however often it asks.
                        Frame::Recycle if !asked_to_recycle => {
                            asked_to_recycle = true;
                            let _ = events.send(WorkerEvent::ServedItsRequests(pid));
                        }
                        Frame::Pong => {
                            let now = Instant::now();
                            *last_heard.lock().unwrap_or_else(PoisonError::into_inner) = Some(now);
                            // A worker gone wrong that sends pong after pong costs the
                            // supervisor one event a second at most.
                            if told.is_none_or(|at| now - at >= HEARD_AT_MOST_EVERY) {
                                told = Some(now);
                                let _ = events.send(WorkerEvent::Heard(pid));
                            }
                        }
                        Frame::Claim { id, every, task } => {
                            let answers = answers.clone();
                            let Ok(permit) = Arc::clone(&claims_in_flight).try_acquire_owned()
                            else {
                                let outcome = Outcome::Failed(format!(
                                    "too many claims under way (at most {MAX_CLAIMS_IN_FLIGHT})"
                                ));
                                let _ = answers.send(answer_frame(id, &outcome));
                                continue;
                            };
                            tokio::spawn(async move {
                                let outcome = claim_for_worker(&task, every).await;
                                let _ = answers.send(answer_frame(id, &outcome));
                                drop(permit);
                            });
                        }
                        Frame::Metrics { id, bytes } => frames_of.answered(id, bytes),
                        Frame::LastMetrics { bytes } => frames_of.last_words(pid, &bytes),
                        Frame::Answer { .. }
                        | Frame::Ping
                        | Frame::Drain
                        | Frame::Recycle
                        | Frame::Scrape { .. } => {}
                    }
                }
            }
            // The writer ends once the claims under way have answered.
            drop(answers);
        };
        // A silent worker is killed; its socket then closes, which ends the others.
        tokio::select! {
            _ = async { tokio::join!(write, read) } => {}
            () = silence => {}
        }
        slot.closed(pid);
    });
    Ok(to_worker)
}

/// SIGABRT to a worker whose runtime went silent (for a core that shows where it
/// hangs), then SIGKILL if it still runs after [`ABORT_GRACE`].
async fn abort(pid: i32) {
    let Some(pid) = Pid::from_raw(pid) else {
        return;
    };
    let _ = rustix::process::kill_process(pid, Signal::ABORT);
    tokio::time::sleep(ABORT_GRACE).await;
    // Still a child of ours, not yet reaped: the pid is still this worker's.
    let _ = rustix::process::kill_process(pid, Signal::KILL);
}

/// Claims a period of a cluster task for a worker, on this host's membership.
async fn claim_for_worker(task: &str, every: Duration) -> Outcome {
    // The spacing comes off the control socket: bounded as an option's would be.
    if every.is_zero() || every > crate::config::MAX_DURATION {
        return Outcome::Failed(format!("invalid task spacing {every:?}"));
    }
    let Some(coordinator) = crate::coordination::current() else {
        return Outcome::Failed("the parent runs no coordination".to_owned());
    };
    match coordinator.claim(task, every).await {
        Ok(Some(period)) => Outcome::Run(period),
        Ok(None) => Outcome::Elsewhere,
        Err(err) => Outcome::Failed(err.to_string()),
    }
}
