//! The parent's side of a scrape: every live worker is asked for its metrics over its
//! control socket, and each worker slot (a service's worker index) becomes one part of
//! the host's exposition, labelled `service` and `worker`.
//!
//! A slot's counters never go down. The last metrics a worker sent are kept (a worker
//! that stops gracefully sends them once more, unasked); when its control socket
//! closes they are folded into its slot, and the slot's next worker counts on from
//! there. While a reload's two generations overlap, a slot has two live workers: their
//! counters are added up and the gauges are the newer one's. A worker that did not
//! answer in time (or whose answer does not decode) is counted, and its slot shows what
//! it last sent: a slow worker's series neither vanish from a scrape nor go down.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::super::protocol::scrape_frame;
use crate::future::BoxFuture;
use crate::metrics::{Collected, MetricFamily, Part, WorkerMetrics, fold, from_bytes};

/// The workers a scrape asks, and what the gone ones left.
#[derive(Clone, Debug, Default)]
pub(super) struct Scrapes {
    inner: Arc<Mutex<Slots>>,
}

#[derive(Debug, Default)]
struct Slots {
    live: HashMap<i32, Live>,
    /// What the workers gone from each (service, index) counted.
    gone: BTreeMap<(String, usize), Vec<MetricFamily>>,
    /// Scrapes sent and not answered yet, by id.
    waiting: HashMap<u32, oneshot::Sender<Vec<u8>>>,
    next_id: u32,
    /// Orders the live workers of one slot: the higher, the newer.
    started: u64,
}

#[derive(Debug)]
struct Live {
    service: String,
    index: usize,
    started: u64,
    frames: mpsc::UnboundedSender<Vec<u8>>,
    /// The metrics it last sent.
    last: Option<Vec<MetricFamily>>,
}

/// One worker's place in the scrapes, for the task that holds its control socket: the
/// worker's frames arrive there, and its socket's end is the worker's end.
#[derive(Debug)]
pub(super) struct Slot {
    scrapes: Scrapes,
    service: String,
    index: usize,
}

impl Slot {
    /// The worker, `pid`, is asked through `frames` from now on.
    pub(super) fn started(&self, pid: i32, frames: mpsc::UnboundedSender<Vec<u8>>) {
        let mut slots = self.scrapes.slots();
        slots.started += 1;
        let live = Live {
            service: self.service.clone(),
            index: self.index,
            started: slots.started,
            frames,
            last: None,
        };
        slots.live.insert(pid, live);
    }

    /// Its answer to scrape `id`.
    pub(super) fn answered(&self, id: u32, metrics: Vec<u8>) {
        if let Some(waiting) = self.scrapes.slots().waiting.remove(&id) {
            let _ = waiting.send(metrics);
        }
    }

    /// Its last metrics, sent as its services stopped.
    pub(super) fn last_words(&self, pid: i32, metrics: &[u8]) {
        match from_bytes(metrics) {
            Ok(families) => {
                if let Some(live) = self.scrapes.slots().live.get_mut(&pid) {
                    live.last = Some(families);
                }
            }
            Err(err) => tracing::warn!(pid, error = %err, "a worker's last metrics do not decode"),
        }
    }

    /// Its control socket closed (it exited, or was killed): what it last sent stays
    /// in its slot. After its last frame, so its last words are in.
    pub(super) fn closed(&self, pid: i32) {
        let mut slots = self.scrapes.slots();
        let Some(live) = slots.live.remove(&pid) else {
            return;
        };
        if let Some(last) = live.last {
            let gone = slots.gone.entry((live.service, live.index)).or_default();
            fold(gone, &last);
        }
    }
}

impl Scrapes {
    fn slots(&self) -> MutexGuard<'_, Slots> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The place of worker `index` of `service`.
    pub(super) fn slot(&self, service: &str, index: usize) -> Slot {
        Slot {
            scrapes: self.clone(),
            service: service.to_owned(),
            index,
        }
    }

    async fn collect_within(&self, timeout: Duration) -> Collected {
        let asked: Vec<(i32, u32, oneshot::Receiver<Vec<u8>>)> = {
            let mut slots = self.slots();
            let pids: Vec<i32> = slots.live.keys().copied().collect();
            let mut asked = Vec::with_capacity(pids.len());
            for pid in pids {
                let id = slots.next_id;
                slots.next_id = slots.next_id.wrapping_add(1);
                let (answer, answered) = oneshot::channel();
                let sent = slots
                    .live
                    .get(&pid)
                    .is_some_and(|live| live.frames.send(scrape_frame(id)).is_ok());
                if sent {
                    slots.waiting.insert(id, answer);
                    asked.push((pid, id, answered));
                }
            }
            asked
        };
        let deadline = tokio::time::Instant::now() + timeout;
        let answers = futures_util::future::join_all(asked.into_iter().map(
            |(pid, id, answered)| async move {
                let answer = tokio::time::timeout_at(deadline, answered).await;
                (pid, id, answer.ok().and_then(Result::ok))
            },
        ))
        .await;

        let mut slots = self.slots();
        let mut missed = 0;
        for (pid, id, answer) in answers {
            slots.waiting.remove(&id);
            let families = answer.map(|bytes| from_bytes(&bytes));
            let Some(live) = slots.live.get_mut(&pid) else {
                continue;
            };
            // A worker that does not answer keeps the answer it gave last.
            match families {
                Some(Ok(families)) => live.last = Some(families),
                Some(Err(err)) => {
                    tracing::warn!(pid, error = %err, "a worker's metrics do not decode");
                    missed += 1;
                }
                None => {
                    tracing::debug!(pid, "a worker did not answer the scrape in time");
                    missed += 1;
                }
            }
        }
        Collected {
            parts: slots.parts(),
            missed,
        }
    }
}

impl Slots {
    /// One part per slot: what its live workers last sent, and what its gone ones left.
    fn parts(&self) -> Vec<Part> {
        let mut by_slot: BTreeMap<(String, usize), Vec<&Live>> = BTreeMap::new();
        for live in self.live.values() {
            by_slot
                .entry((live.service.clone(), live.index))
                .or_default()
                .push(live);
        }
        for slot in self.gone.keys() {
            by_slot.entry(slot.clone()).or_default();
        }
        let mut parts = Vec::new();
        for (slot, mut lives) in by_slot {
            // The newest first: its gauges are the slot's.
            lives.sort_by_key(|live| std::cmp::Reverse(live.started));
            let mut answers = lives.iter().filter_map(|live| live.last.as_ref());
            let mut families = answers.next().cloned().unwrap_or_default();
            for older in answers {
                fold(&mut families, older);
            }
            if let Some(gone) = self.gone.get(&slot) {
                fold(&mut families, gone);
            }
            let (service, index) = slot;
            parts.push(Part {
                labels: vec![
                    ("service".to_owned(), service),
                    ("worker".to_owned(), index.to_string()),
                ],
                families,
            });
        }
        parts
    }
}

impl WorkerMetrics for Scrapes {
    fn collect(&self, timeout: Duration) -> BoxFuture<'_, Collected> {
        Box::pin(self.collect_within(timeout))
    }
}
