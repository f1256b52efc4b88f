//! The parent's side of a worker's control socket: the configuration handed over, then
//! the worker's readiness reports and its claims of cluster-task periods, each answered
//! (claimed on the parent's membership of the coordination group), and the heartbeat:
//! a worker whose runtime stops answering is reported (the pool's rules abort it). What
//! a worker can make its parent hold is bounded: one readiness report on its way at a
//! time, one recycling request, a heartbeat event a second, [`MAX_CLAIMS_IN_FLIGHT`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::super::protocol::{Frame, Frames, Outcome, PING, answer_frame};
use super::super::worker::handover_frame;
use super::scrape::Slot;
use crate::config::{Config, Heartbeat};

/// The supervisor hears of a worker's answers this often at most.
const HEARD_AT_MOST_EVERY: Duration = Duration::from_secs(1);

/// What a worker's control socket tells the supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WorkerEvent {
    /// Its services are up (or reset). One at a time: see [`ReadyReport`].
    Ready(i32),
    /// Its runtime answered the heartbeat.
    Heard(i32),
    /// Its runtime has not answered for this long: abort it.
    Silent(i32, Duration),
    /// It served its `max_requests`: replace it.
    ServedItsRequests(i32),
}

/// Claims one worker may have under way at once; more are answered with a refusal at
/// once, so a worker gone wrong cannot pile up tasks in its parent.
const MAX_CLAIMS_IN_FLIGHT: usize = 64;

/// Whether a worker's readiness report is on its way to the supervisor: a worker that
/// sends ready after ready has one [`WorkerEvent::Ready`] queued at most, the others
/// are dropped as they are read. None is lost: a report read after the supervisor took
/// the last one in is sent.
#[derive(Clone, Debug, Default)]
pub(super) struct ReadyReport(Arc<AtomicBool>);

impl ReadyReport {
    /// Whether a report is to be sent now (none is on its way).
    fn to_send(&self) -> bool {
        !self.0.swap(true, Ordering::AcqRel)
    }

    /// The supervisor took the report in: the next one read is sent.
    pub(super) fn taken(&self) {
        self.0.store(false, Ordering::Release);
    }
}

/// The parent's hold on a worker's control socket.
pub(super) struct Watched {
    /// Writes frames to the worker (keep it no longer than the worker lives).
    pub(super) frames: mpsc::UnboundedSender<Vec<u8>>,
    /// To take the worker's readiness reports in.
    pub(super) ready: ReadyReport,
}

/// Hands worker `pid` the configuration its siblings run on, then reads its readiness
/// reports and claims (answering each), and checks its heartbeat, in a task that holds
/// the parent's end of its control socket until the worker closes its own. What it
/// learns goes to `events`.
pub(super) fn watch(
    conf: &Config,
    pid: i32,
    control: std::os::unix::net::UnixStream,
    events: mpsc::UnboundedSender<WorkerEvent>,
    heartbeat: Option<Heartbeat>,
    slot: Slot,
) -> std::io::Result<Watched> {
    control.set_nonblocking(true)?;
    let mut control = tokio::net::UnixStream::from_std(control)?;
    let values = handover_frame(&conf.snapshot().to_bytes(), &conf.sources().to_bytes());
    let (answers, mut to_send) = mpsc::unbounded_channel::<Vec<u8>>();
    let to_worker = answers.clone();
    slot.started(pid, to_worker.clone());
    let ready = ReadyReport::default();
    let ready_read = ready.clone();
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
                        // Once: the supervisor aborts it, and its socket closes as it
                        // goes, which ends this task.
                        return std::future::pending().await;
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
                            if ready_read.to_send() {
                                let _ = events.send(WorkerEvent::Ready(pid));
                            }
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
    Ok(Watched {
        frames: to_worker,
        ready,
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Snapshot;
    use crate::launcher::protocol::{PONG, READY};

    /// A worker that sends ready after ready has one report queued in its parent at a
    /// time, however many it sends; the next one after the supervisor took it in is
    /// heard.
    // Two threads: the test writes to the socket while the parent's task reads it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_of_ready_frames_queues_one_event() {
        let conf = Config::from_snapshot(Snapshot::from_ini("", None).unwrap());
        let (parent, mut worker) = std::os::unix::net::UnixStream::pair().unwrap();
        let (events, mut received) = mpsc::unbounded_channel();
        let scrapes = super::super::scrape::Scrapes::default();
        let watched = watch(&conf, 4242, parent, events, None, scrapes.slot("api", 0)).unwrap();
        let send = |worker: &mut std::os::unix::net::UnixStream, bytes: &[u8]| {
            std::io::Write::write_all(worker, bytes).unwrap();
        };
        // The supervisor is busy: 100 000 ready frames, then a pong to know they were
        // all read.
        send(&mut worker, &vec![READY; 100_000]);
        send(&mut worker, &[PONG]);
        let mut readies = 0;
        let within = std::time::Duration::from_secs(30);
        loop {
            match tokio::time::timeout(within, received.recv()).await.unwrap() {
                Some(WorkerEvent::Ready(4242)) => readies += 1,
                Some(WorkerEvent::Heard(4242)) => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(readies, 1, "every ready frame queued an event");
        // Taken in: the next report is heard.
        watched.ready.taken();
        send(&mut worker, &[READY]);
        let next = tokio::time::timeout(within, received.recv()).await.unwrap();
        assert_eq!(next, Some(WorkerEvent::Ready(4242)));
    }
}
