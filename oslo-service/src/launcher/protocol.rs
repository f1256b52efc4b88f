//! The control socket's protocol, both sides of it: after the configuration handover
//! (`worker::handover`), a worker reports that it is ready, and asks its parent to claim
//! the periods of its cluster tasks (the parent is its host's member of the
//! coordination group, so a worker's runs are claimed on the parent's membership, and a
//! host is one member however many workers it has). Frames go both ways:
//!
//! ```text
//! worker -> parent   R                                      ready (one byte)
//!                    C id:u32 every_ms:u64 len:u16 task      claim the current period
//!                    O                                      pong: its runtime answers
//!                    X                                      it served its max_requests
//!                    M id:u32 len:u32 metrics                its metrics, for a scrape
//!                    L len:u32 metrics                       its last metrics, as it stops
//! parent -> worker   A id:u32 outcome:u8 period:u64 len:u16 reason
//!                    P                                      ping (the heartbeat)
//!                    D                                      drain: the host stops soon
//!                    S id:u32                               scrape: send your metrics
//! ```
//!
//! A worker's metrics are its registry's families in prometheus-client's protobuf
//! encoding, at most [`MAX_METRICS`] bytes.
//!
//! Numbers are little-endian; `outcome` is 0 (run `period`), 1 (another host runs it) or
//! 2 (no claim could be made: `reason`).

use std::time::Duration;

/// The byte a worker sends when its services have started or been reset.
pub(in crate::launcher) const READY: u8 = b'R';
const CLAIM: u8 = b'C';
const ANSWER: u8 = b'A';
/// The parent's heartbeat, which the worker's runtime answers with [`PONG`].
pub(in crate::launcher) const PING: u8 = b'P';
pub(in crate::launcher) const PONG: u8 = b'O';
/// Sent on SIGTERM with a `graceful_shutdown_delay`: the health check says so from now.
pub(in crate::launcher) const DRAIN: u8 = b'D';
/// Sent by a worker that served its `max_requests`: its parent replaces it.
pub(in crate::launcher) const RECYCLE: u8 = b'X';

/// The parent asks a worker for its metrics.
const SCRAPE: u8 = b'S';
/// A worker's metrics.
const METRICS: u8 = b'M';
/// A worker's metrics once its services have stopped, unasked: what it counted since
/// the last scrape is not lost.
const LAST_METRICS: u8 = b'L';
/// The most bytes of metrics a worker sends: a frame that says more is not waited
/// for (its first byte is dropped like any byte that starts no frame).
pub(in crate::launcher) const MAX_METRICS: usize = 16 << 20;

/// What the parent answers a claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(in crate::launcher) enum Outcome {
    /// The worker runs this period.
    Run(u64),
    /// Another host runs it.
    Elsewhere,
    /// No claim could be made, for this reason.
    Failed(String),
}

/// One frame read from the control socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(in crate::launcher) enum Frame {
    Ready,
    Ping,
    Pong,
    Drain,
    Recycle,
    Claim {
        id: u32,
        every: Duration,
        task: String,
    },
    Answer {
        id: u32,
        outcome: Outcome,
    },
    Scrape {
        id: u32,
    },
    Metrics {
        id: u32,
        bytes: Vec<u8>,
    },
    LastMetrics {
        bytes: Vec<u8>,
    },
}

// Without feature `metrics`, no parent scrapes.
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(in crate::launcher) fn scrape_frame(id: u32) -> Vec<u8> {
    let mut frame = vec![SCRAPE];
    frame.extend_from_slice(&id.to_le_bytes());
    frame
}

/// The answer to scrape `id`; empty if there are more than [`MAX_METRICS`] bytes.
pub(in crate::launcher) fn metrics_frame(id: u32, metrics: &[u8]) -> Vec<u8> {
    let mut frame = vec![METRICS];
    frame.extend_from_slice(&id.to_le_bytes());
    with_metrics(frame, metrics)
}

/// A worker's last metrics; empty if there are more than [`MAX_METRICS`] bytes.
pub(in crate::launcher) fn last_metrics_frame(metrics: &[u8]) -> Vec<u8> {
    with_metrics(vec![LAST_METRICS], metrics)
}

fn with_metrics(mut frame: Vec<u8>, metrics: &[u8]) -> Vec<u8> {
    let metrics = if metrics.len() > MAX_METRICS {
        &[][..]
    } else {
        metrics
    };
    frame.reserve(4 + metrics.len());
    frame.extend_from_slice(&(metrics.len() as u32).to_le_bytes());
    frame.extend_from_slice(metrics);
    frame
}

// Without feature `coordination`, no worker asks for a claim.
#[cfg_attr(not(feature = "coordination"), allow(dead_code))]
pub(in crate::launcher) fn claim_frame(id: u32, task: &str, every: Duration) -> Vec<u8> {
    let task = &task.as_bytes()[..task.len().min(usize::from(u16::MAX))];
    let mut frame = vec![CLAIM];
    frame.extend_from_slice(&id.to_le_bytes());
    let millis = u64::try_from(every.as_millis()).unwrap_or(u64::MAX);
    frame.extend_from_slice(&millis.to_le_bytes());
    frame.extend_from_slice(&(task.len() as u16).to_le_bytes());
    frame.extend_from_slice(task);
    frame
}

pub(in crate::launcher) fn answer_frame(id: u32, outcome: &Outcome) -> Vec<u8> {
    let (code, period, reason) = match outcome {
        Outcome::Run(period) => (0u8, *period, ""),
        Outcome::Elsewhere => (1, 0, ""),
        Outcome::Failed(reason) => (2, 0, reason.as_str()),
    };
    let reason = &reason.as_bytes()[..reason.len().min(usize::from(u16::MAX))];
    let mut frame = vec![ANSWER];
    frame.extend_from_slice(&id.to_le_bytes());
    frame.push(code);
    frame.extend_from_slice(&period.to_le_bytes());
    frame.extend_from_slice(&(reason.len() as u16).to_le_bytes());
    frame.extend_from_slice(reason);
    frame
}

/// Frames out of the bytes of a stream, as they arrive in pieces.
#[derive(Debug, Default)]
pub(in crate::launcher) struct Frames {
    pending: Vec<u8>,
}

impl Frames {
    pub(in crate::launcher) fn push(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
    }

    /// The next whole frame, if one has arrived. A byte that starts no frame is dropped.
    pub(in crate::launcher) fn next_frame(&mut self) -> Option<Frame> {
        loop {
            let (frame, used) = match *self.pending.first()? {
                READY => (Frame::Ready, 1),
                PING => (Frame::Ping, 1),
                PONG => (Frame::Pong, 1),
                DRAIN => (Frame::Drain, 1),
                RECYCLE => (Frame::Recycle, 1),
                CLAIM => {
                    let head = self.pending.get(..15)?;
                    let len = usize::from(u16::from_le_bytes([head[13], head[14]]));
                    let task = self.pending.get(15..15 + len)?;
                    let frame = Frame::Claim {
                        id: u32::from_le_bytes(head[1..5].try_into().ok()?),
                        every: Duration::from_millis(u64::from_le_bytes(
                            head[5..13].try_into().ok()?,
                        )),
                        task: String::from_utf8_lossy(task).into_owned(),
                    };
                    (frame, 15 + len)
                }
                ANSWER => {
                    let head = self.pending.get(..16)?;
                    let len = usize::from(u16::from_le_bytes([head[14], head[15]]));
                    let reason = self.pending.get(16..16 + len)?;
                    let period = u64::from_le_bytes(head[6..14].try_into().ok()?);
                    let outcome = match head[5] {
                        0 => Outcome::Run(period),
                        1 => Outcome::Elsewhere,
                        _ => Outcome::Failed(String::from_utf8_lossy(reason).into_owned()),
                    };
                    let id = u32::from_le_bytes(head[1..5].try_into().ok()?);
                    (Frame::Answer { id, outcome }, 16 + len)
                }
                SCRAPE => {
                    let head = self.pending.get(..5)?;
                    let id = u32::from_le_bytes(head[1..5].try_into().ok()?);
                    (Frame::Scrape { id }, 5)
                }
                METRICS | LAST_METRICS => {
                    let (id, start) = match self.pending[0] {
                        METRICS => {
                            let head = self.pending.get(..5)?;
                            (Some(u32::from_le_bytes(head[1..5].try_into().ok()?)), 5)
                        }
                        _ => (None, 1),
                    };
                    let len = self.pending.get(start..start + 4)?;
                    let len = usize::try_from(u32::from_le_bytes(len.try_into().ok()?))
                        .unwrap_or(usize::MAX);
                    if len > MAX_METRICS {
                        self.pending.remove(0);
                        continue;
                    }
                    let body = start + 4;
                    let bytes = self.pending.get(body..body + len)?.to_vec();
                    let frame = match id {
                        Some(id) => Frame::Metrics { id, bytes },
                        None => Frame::LastMetrics { bytes },
                    };
                    (frame, body + len)
                }
                _ => {
                    self.pending.remove(0);
                    continue;
                }
            };
            self.pending.drain(..used);
            return Some(frame);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_metrics_frame_that_says_too_much_is_not_waited_for() {
        let mut bytes = vec![METRICS];
        bytes.extend_from_slice(&1u32.to_le_bytes());
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        bytes.push(READY);
        let mut frames = Frames::default();
        frames.push(&bytes);
        // The header's bytes that start no frame are dropped; the next frame is read.
        let mut got = Vec::new();
        while let Some(frame) = frames.next_frame() {
            got.push(frame);
        }
        assert_eq!(got.last(), Some(&Frame::Ready));
    }

    #[test]
    fn frames_arrive_whole_whatever_the_pieces() {
        let mut bytes = vec![READY, PING, PONG, DRAIN];
        bytes.extend(claim_frame(7, "Cluster.purge", Duration::from_secs(60)));
        bytes.push(b'?');
        bytes.extend(answer_frame(7, &Outcome::Run(42)));
        bytes.extend(answer_frame(8, &Outcome::Failed("etcd is down".into())));
        bytes.extend(answer_frame(9, &Outcome::Elsewhere));
        bytes.extend(scrape_frame(10));
        bytes.extend(metrics_frame(10, b"families"));
        bytes.extend(metrics_frame(11, &vec![0; MAX_METRICS + 1]));
        bytes.extend(last_metrics_frame(b"last"));
        let mut frames = Frames::default();
        let mut got = Vec::new();
        for piece in bytes.chunks(3) {
            frames.push(piece);
            while let Some(frame) = frames.next_frame() {
                got.push(frame);
            }
        }
        assert_eq!(
            got,
            [
                Frame::Ready,
                Frame::Ping,
                Frame::Pong,
                Frame::Drain,
                Frame::Claim {
                    id: 7,
                    every: Duration::from_secs(60),
                    task: "Cluster.purge".into()
                },
                Frame::Answer {
                    id: 7,
                    outcome: Outcome::Run(42)
                },
                Frame::Answer {
                    id: 8,
                    outcome: Outcome::Failed("etcd is down".into())
                },
                Frame::Answer {
                    id: 9,
                    outcome: Outcome::Elsewhere
                },
                Frame::Scrape { id: 10 },
                Frame::Metrics {
                    id: 10,
                    bytes: b"families".to_vec()
                },
                // Too much to send: sent empty.
                Frame::Metrics {
                    id: 11,
                    bytes: Vec::new()
                },
                Frame::LastMetrics {
                    bytes: b"last".to_vec()
                },
            ]
        );
    }
}
