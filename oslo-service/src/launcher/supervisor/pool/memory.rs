//! `max_worker_memory`'s rule: a worker whose resident memory went past the limit is
//! replaced new-before-old, as one that served its `max_requests`. The parent measures
//! (`supervisor::memory`); the pool decides.

use super::Pool;
use crate::launcher::phase::LauncherState;

/// Why a worker over its memory is recycled: the log's and the metric's reason.
pub(in crate::launcher::supervisor) const REASON: &str = "max_worker_memory";

impl Pool {
    /// The workers worth measuring: neither leaving nor already to be replaced.
    pub(in crate::launcher::supervisor) fn to_measure(&self) -> Vec<i32> {
        self.workers
            .iter()
            .filter(|(_, w)| !w.recycling && !w.retiring && w.recycle_wanted.is_none())
            .map(|(&pid, _)| pid)
            .collect()
    }

    /// Worker `pid` has `rss` bytes resident: past `limit`, it is replaced (at once
    /// while the launcher runs, once the start or reload is over otherwise), and only
    /// once. Whether it is over the limit and newly asked to go.
    pub(in crate::launcher::supervisor) fn measured(
        &mut self,
        pid: i32,
        rss: u64,
        limit: u64,
        state: LauncherState,
    ) -> bool {
        let Some(worker) = self.workers.get(&pid) else {
            return false;
        };
        if state == LauncherState::Stopping
            || rss <= limit
            || worker.recycling
            || worker.retiring
            || worker.recycle_wanted.is_some()
        {
            return false;
        }
        tracing::warn!(
            pid,
            worker = worker.index,
            service = %self.services[worker.pool].name,
            rss,
            max_worker_memory = limit,
            "worker {} exceeded max_worker_memory (RSS {rss} > {limit}), replacing it",
            worker.index
        );
        self.ask_recycle(pid, REASON, state);
        true
    }
}
