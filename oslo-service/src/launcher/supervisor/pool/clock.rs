//! What the clock decides for the pool: retiring and aborted workers killed past their
//! time, the reload's deadline, workers recycled at the end of their lifetime.

use std::time::Instant;

use rustix::process::Signal;

use super::{Action, Pool};
use crate::launcher::phase::LauncherState;

impl Pool {
    /// The clock moved on: retiring and aborted workers past their time are killed
    /// (only workers not yet reaped are here); workers past their lifetime are
    /// recycled, or will be once the launcher runs; a reload past its deadline replaces
    /// the workers that did not acknowledge it, and ends.
    pub(in crate::launcher::supervisor) fn tick(
        &mut self,
        state: LauncherState,
        now: Instant,
    ) -> Vec<Action> {
        let mut actions = Vec::new();
        let aged: Vec<i32> = self
            .workers
            .iter()
            .filter(|(_, w)| w.recycle_at.is_some_and(|at| at <= now))
            .map(|(&pid, _)| pid)
            .collect();
        for pid in aged {
            // Done now, or remembered until the launcher runs: either way not due again.
            self.ask_recycle(pid, "max_worker_lifetime", state);
            if let Some(worker) = self.workers.get_mut(&pid) {
                worker.recycle_at = None;
            }
        }
        for (&pid, worker) in &mut self.workers {
            if worker.kill_at.is_some_and(|at| at <= now) {
                worker.kill_at = None;
                if worker.aborted {
                    tracing::warn!(
                        pid,
                        worker = worker.index,
                        "worker still there after SIGABRT, killing it"
                    );
                } else {
                    tracing::warn!(
                        pid,
                        worker = worker.index,
                        "worker did not stop within graceful_shutdown_timeout, killing it"
                    );
                }
                actions.push(Action::Signal {
                    pid,
                    signal: Signal::KILL,
                });
            }
        }
        if state != LauncherState::Reloading
            || self.reload_deadline.is_none_or(|deadline| deadline > now)
        {
            return actions;
        }
        let laggards: Vec<i32> = self
            .current(None)
            .filter(|(_, w)| !w.ready)
            .map(|(&pid, _)| pid)
            .collect();
        for pid in laggards {
            if let Some(worker) = self.workers.get_mut(&pid) {
                tracing::error!(
                    pid,
                    worker = worker.index,
                    service = %self.services[worker.pool].name,
                    "worker did not acknowledge the reload within graceful_shutdown_timeout, replacing it"
                );
                worker.retiring = true;
                worker.kill_at = None;
                // SIGKILL: a worker that is stopped or hung would not act on SIGTERM.
                actions.push(Action::Signal {
                    pid,
                    signal: Signal::KILL,
                });
            }
        }
        actions.extend(self.settle(now));
        actions
    }

    /// The next moment something is due: a paused start, a retiring worker's kill, the
    /// reload's deadline.
    pub(in crate::launcher::supervisor) fn next_deadline(&self) -> Option<Instant> {
        let starts = (0..self.services.len())
            .filter(|&pool| !self.missing(pool).is_empty())
            .filter_map(|pool| self.services[pool].rate.held_until());
        let kills = self.workers.values().filter_map(|w| w.kill_at);
        let recycles = self
            .workers
            .values()
            .filter(|w| !w.recycling && !w.retiring)
            .filter_map(|w| w.recycle_at);
        starts
            .chain(kills)
            .chain(recycles)
            .chain(self.reload_deadline)
            .min()
    }
}
