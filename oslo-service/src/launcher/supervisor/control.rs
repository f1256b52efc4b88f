//! The parent's side of a worker's control socket: the configuration handed over, then
//! the worker's readiness reports and its claims of cluster-task periods, each answered
//! (claimed on the parent's membership of the coordination group).

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::super::protocol::{Frame, Frames, Outcome, answer_frame};
use super::super::worker::handover_frame;
use crate::config::Config;

/// Claims one worker may have under way at once; more are answered with a refusal at
/// once, so a worker gone wrong cannot pile up tasks in its parent.
const MAX_CLAIMS_IN_FLIGHT: usize = 64;

/// Hands worker `pid` the configuration its siblings run on, then reads its readiness
/// reports (sent on `ready`) and claims (answering each), in a task that holds the
/// parent's end of its control socket until the worker closes its own.
pub(super) fn watch(
    conf: &Config,
    pid: i32,
    control: std::os::unix::net::UnixStream,
    ready: mpsc::UnboundedSender<i32>,
) -> std::io::Result<()> {
    control.set_nonblocking(true)?;
    let mut control = tokio::net::UnixStream::from_std(control)?;
    let values = handover_frame(&conf.snapshot().to_bytes(), &conf.sources().to_bytes());
    tokio::spawn(async move {
        // Side by side: a program that does not read the configuration (a `main` of its
        // own) must still be heard when it is ready. Borrowed halves: dropping one does
        // not shut the socket down.
        let (mut reader, mut writer) = control.split();
        let (answers, mut to_send) = mpsc::unbounded_channel::<Vec<u8>>();
        let write = async {
            if let Err(err) = writer.write_all(&values).await {
                // The worker reads end-of-file or a short frame, and gives up.
                tracing::debug!(pid, error = %err, "cannot hand the configuration to the worker");
                return;
            }
            while let Some(answer) = to_send.recv().await {
                if writer.write_all(&answer).await.is_err() {
                    return;
                }
            }
        };
        let claims_in_flight = Arc::new(tokio::sync::Semaphore::new(MAX_CLAIMS_IN_FLIGHT));
        let read = async move {
            let mut buf = [0u8; 512];
            let mut frames = Frames::default();
            while let Ok(n @ 1..) = reader.read(&mut buf).await {
                frames.push(&buf[..n]);
                while let Some(frame) = frames.next_frame() {
                    match frame {
                        Frame::Ready => {
                            let _ = ready.send(pid);
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
                        Frame::Answer { .. } => {}
                    }
                }
            }
            // The writer ends once the claims under way have answered.
            drop(answers);
        };
        tokio::join!(write, read);
    });
    Ok(())
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
