//! The rules of a pool of worker processes, without I/O: which workers are wanted,
//! which generation they belong to, which are ready, which retire and when one is
//! killed. It takes events (a worker started, ready, exited; a reload, a stop, a
//! new target, the clock) and returns actions (start a worker, signal one, tell systemd
//! the pool is ready) that the supervisor's event loop carries out. The clock is passed
//! in; nothing here forks, signals or sleeps, so the rules are tested by tables of
//! events.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::RangeInclusive;
use std::time::{Duration, Instant, SystemTime};

use rustix::process::Signal;

use super::super::fork_rate::{ForkRate, PAUSE, Verdict};
use super::super::phase::LauncherState;
use super::super::services::RestartMethod;

/// How long a silent worker has, after SIGABRT (and the core it may write), before
/// SIGKILL.
pub(super) const ABORT_GRACE: Duration = Duration::from_secs(5);

/// What the event loop is to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Action {
    /// Start worker `index` of service `pool`, then report [`Pool::started`] (or
    /// [`Pool::start_failed`]).
    Start { pool: usize, index: usize },
    /// Send `signal` to worker `pid`.
    Signal { pid: i32, signal: Signal },
    /// Every wanted worker of the current generation is ready: the start or the reload
    /// is over (READY=1 with this status).
    Settled { status: String },
}

/// One service and the number of workers it should have.
#[derive(Debug)]
struct Service {
    name: String,
    target: usize,
    /// The counts SIGTTIN and SIGTTOU keep it within.
    bounds: RangeInclusive<usize>,
    rate: ForkRate,
}

/// One live worker process.
#[derive(Clone, Debug)]
pub(super) struct Worker {
    pub(super) pool: usize,
    pub(super) index: usize,
    pub(super) generation: u64,
    pub(super) ready: bool,
    /// Asked to stop for good: not replaced when it exits.
    pub(super) retiring: bool,
    /// When it is killed if it is still there: a retiring worker at the end of its
    /// graceful time, an aborted one [`ABORT_GRACE`] after SIGABRT. Only a worker not
    /// yet reaped is in the pool, so a kill never reaches a pid another process took.
    kill_at: Option<Instant>,
    /// Sent SIGABRT: its runtime stopped answering.
    aborted: bool,
    pub(super) started_at: SystemTime,
    /// To be replaced (`max_requests`, `max_worker_lifetime`, `max_worker_memory`): it serves on until its
    /// replacement is ready, then retires.
    pub(super) recycling: bool,
    /// When it is recycled for its age (`max_worker_lifetime` and its jitter).
    recycle_at: Option<Instant>,
    /// Asked to be recycled (and why) when it could not be: the launcher was starting
    /// or reloading. Done once the start or the reload is over.
    recycle_wanted: Option<&'static str>,
}

/// The workers of every service of a process launcher.
#[derive(Debug)]
pub(super) struct Pool {
    services: Vec<Service>,
    workers: BTreeMap<i32, Worker>,
    generation: u64,
    /// When the workers that have not acknowledged the reload under way are replaced.
    reload_deadline: Option<Instant>,
    /// `graceful_shutdown_timeout`: how long a retiring worker has.
    graceful: Option<Duration>,
    /// The (service, index, generation) slots started so far, and how many times each
    /// (service, index) was started again within a generation: the restarts the debug
    /// console shows.
    started_slots: BTreeSet<(usize, usize, u64)>,
    restarts: BTreeMap<(usize, usize), u64>,
}

impl Pool {
    /// Services by name and worker count; retiring workers have `graceful`.
    pub(super) fn new(services: Vec<(String, usize)>, graceful: Option<Duration>) -> Self {
        Pool {
            services: services
                .into_iter()
                .map(|(name, target)| Service {
                    name,
                    target,
                    bounds: 1..=usize::MAX,
                    rate: ForkRate::default(),
                })
                .collect(),
            workers: BTreeMap::new(),
            generation: 0,
            reload_deadline: None,
            graceful,
            started_slots: BTreeSet::new(),
            restarts: BTreeMap::new(),
        }
    }

    /// The worker counts SIGTTIN and SIGTTOU keep `pool` within (from 1 to any by
    /// default; the launcher checked them).
    pub(super) fn set_bounds(&mut self, pool: usize, bounds: RangeInclusive<usize>) {
        self.services[pool].bounds = bounds;
    }

    /// How long a worker retired from now on has (a reloaded `graceful_shutdown_timeout`).
    pub(super) fn set_graceful(&mut self, graceful: Option<Duration>) {
        self.graceful = graceful;
    }

    pub(super) fn services(&self) -> usize {
        self.services.len()
    }

    pub(super) fn name(&self, pool: usize) -> &str {
        &self.services[pool].name
    }

    pub(super) fn target(&self, pool: usize) -> usize {
        self.services[pool].target
    }

    /// How many workers every service should have, together.
    pub(super) fn workers_in_all(&self) -> usize {
        self.services.iter().map(|s| s.target).sum()
    }

    /// The live workers, by pid.
    pub(super) fn workers(&self) -> &BTreeMap<i32, Worker> {
        &self.workers
    }

    pub(super) fn restarts(&self, pool: usize, index: usize) -> u64 {
        self.restarts.get(&(pool, index)).copied().unwrap_or(0)
    }

    /// The workers that stand for the current generation (not retiring), of `pool` or
    /// of every service: the one filter the rules read the pool through.
    fn current(&self, pool: Option<usize>) -> impl Iterator<Item = (&i32, &Worker)> {
        self.workers.iter().filter(move |(_, w)| {
            w.generation == self.generation
                && !w.retiring
                && !w.recycling
                && pool.is_none_or(|p| w.pool == p)
        })
    }

    /// The worker indexes of the current generation that no live worker holds.
    fn missing(&self, pool: usize) -> Vec<usize> {
        let mut taken = vec![false; self.services[pool].target];
        for (_, worker) in self.current(Some(pool)) {
            if let Some(taken) = taken.get_mut(worker.index) {
                *taken = true;
            }
        }
        (0..taken.len()).filter(|&i| !taken[i]).collect()
    }

    /// Whether every wanted worker of the current generation has reported ready.
    fn all_ready(&self) -> bool {
        (0..self.services.len()).all(|pool| {
            let ready = self.current(Some(pool)).filter(|(_, w)| w.ready).count();
            ready >= self.services[pool].target
        })
    }

    /// `3/4 workers ready`.
    /// What the health probes ask of the workers: how many are ready (of any
    /// generation), alive, and hung (sent SIGABRT for a heartbeat they missed).
    pub(super) fn health(&self) -> crate::health::Workers {
        let workers = self.workers.values();
        crate::health::Workers {
            ready: workers.clone().filter(|w| w.ready && !w.aborted).count(),
            alive: self.workers.len(),
            hung: workers.filter(|w| w.aborted).count(),
        }
    }

    pub(super) fn readiness(&self) -> String {
        let ready = self.current(None).filter(|(_, w)| w.ready).count();
        format!("{ready}/{} workers ready", self.workers_in_all())
    }

    /// The workers that are missing, as far as the fork rate allows (none while
    /// stopping).
    pub(super) fn fill(&mut self, state: LauncherState, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        if state == LauncherState::Stopping {
            return actions;
        }
        for pool in 0..self.services.len() {
            for index in self.missing(pool) {
                let target = self.services[pool].target;
                match self.services[pool].rate.check(target, now) {
                    Verdict::Fork => actions.push(Action::Start { pool, index }),
                    Verdict::Wait { first, .. } => {
                        if first {
                            crate::metrics::fork_rate_slept();
                            tracing::info!(service = %self.services[pool].name, "forking too fast, sleeping");
                        }
                        break;
                    }
                }
            }
        }
        actions
    }

    /// Worker `index` of `pool` started as `pid`; it is recycled at `recycle_at`.
    pub(super) fn started(
        &mut self,
        pool: usize,
        index: usize,
        pid: i32,
        at: SystemTime,
        recycle_at: Option<Instant>,
    ) {
        self.workers.insert(
            pid,
            Worker {
                pool,
                index,
                generation: self.generation,
                ready: false,
                retiring: false,
                kill_at: None,
                aborted: false,
                started_at: at,
                recycling: false,
                recycle_at,
                recycle_wanted: None,
            },
        );
        if !self.started_slots.insert((pool, index, self.generation)) {
            *self.restarts.entry((pool, index)).or_default() += 1;
        }
    }

    /// A worker of `pool` could not be started: the next try waits a pause.
    pub(super) fn start_failed(&mut self, pool: usize, now: Instant) {
        self.services[pool].rate.hold(now + PAUSE);
    }

    /// Worker `pid` reported ready: a worker it replaces (recycled) retires now; the
    /// start or reload under way may be over.
    pub(super) fn ready(&mut self, pid: i32, state: LauncherState, now: Instant) -> Vec<Action> {
        let Some(worker) = self.workers.get_mut(&pid) else {
            return self.progress(state, now);
        };
        worker.ready = true;
        let (pool, index) = (worker.pool, worker.index);
        if let (LauncherState::Running, Some(reason)) = (state, worker.recycle_wanted) {
            // Asked before it said it was ready (it served first).
            self.recycle(pid, reason);
        }
        let replaced: Vec<i32> = self
            .workers
            .iter()
            .filter(|(_, w)| w.recycling && !w.retiring && w.pool == pool && w.index == index)
            .map(|(&pid, _)| pid)
            .collect();
        let mut actions: Vec<Action> = replaced
            .into_iter()
            .flat_map(|pid| self.retire(pid, now))
            .collect();
        actions.extend(self.progress(state, now));
        actions
    }

    /// Worker `pid` is to be replaced (`max_requests`, `max_worker_lifetime`): at once
    /// while the launcher runs; once the start or reload under way is over otherwise
    /// (remembered: the worker asks once). While stopping, every worker goes anyway.
    /// Whether it is being recycled now.
    pub(super) fn ask_recycle(
        &mut self,
        pid: i32,
        reason: &'static str,
        state: LauncherState,
    ) -> bool {
        if state == LauncherState::Running && self.recycle(pid, reason) {
            return true;
        }
        if state == LauncherState::Stopping {
            return false;
        }
        if let Some(worker) = self.workers.get_mut(&pid) {
            if !worker.recycling && !worker.retiring && worker.recycle_wanted.is_none() {
                worker.recycle_wanted = Some(reason);
                tracing::info!(pid, worker = worker.index, service = %self.services[worker.pool].name, %reason, ?state, "worker to be recycled once the launcher runs");
            }
        }
        false
    }

    /// Replaces worker `pid` new-before-old, as a reload does for all: the next
    /// [`Pool::fill`] starts its replacement, and once that one is ready it retires.
    /// Only a ready worker of the current generation is recycled (once).
    pub(super) fn recycle(&mut self, pid: i32, reason: &'static str) -> bool {
        let generation = self.generation;
        let Some(worker) = self.workers.get_mut(&pid) else {
            return false;
        };
        if worker.recycling || worker.retiring || !worker.ready || worker.generation != generation {
            return false;
        }
        worker.recycling = true;
        worker.recycle_at = None;
        worker.recycle_wanted = None;
        tracing::info!(pid, worker = worker.index, service = %self.services[worker.pool].name, %reason, "recycling worker");
        crate::metrics::worker_recycled(&self.services[worker.pool].name, reason);
        true
    }

    /// Worker `pid` exited: what it was, if it was one.
    pub(super) fn exited(&mut self, pid: i32) -> Option<Worker> {
        self.workers.remove(&pid)
    }

    /// A start or a reload is over once every wanted worker is ready: the previous
    /// generation retires.
    pub(super) fn progress(&mut self, state: LauncherState, now: Instant) -> Vec<Action> {
        if !matches!(state, LauncherState::Starting | LauncherState::Reloading) || !self.all_ready()
        {
            return Vec::new();
        }
        self.settle(now)
    }

    /// The end of a start or a reload: the previous generation is asked to stop.
    fn settle(&mut self, now: Instant) -> Vec<Action> {
        self.reload_deadline = None;
        let old: Vec<i32> = self
            .workers
            .iter()
            .filter(|(_, w)| w.generation < self.generation && !w.retiring)
            .map(|(&pid, _)| pid)
            .collect();
        let mut actions: Vec<Action> = old
            .into_iter()
            .flat_map(|pid| self.retire(pid, now))
            .collect();
        actions.push(Action::Settled {
            status: self.readiness(),
        });
        // What was asked meanwhile: the old generation retires anyway.
        let wanted: Vec<(i32, &'static str)> = self
            .workers
            .iter()
            .filter_map(|(&pid, w)| Some((pid, w.recycle_wanted?)))
            .collect();
        for (pid, reason) in wanted {
            self.recycle(pid, reason);
        }
        actions
    }

    /// Worker `pid`'s runtime stopped answering: SIGABRT now (a core that shows where it
    /// hangs), SIGKILL after [`ABORT_GRACE`] if it has not been reaped by then. It is
    /// replaced once it exits, as a worker that crashed.
    pub(super) fn abort(&mut self, pid: i32, now: Instant) -> Option<Action> {
        let worker = self.workers.get_mut(&pid)?;
        if worker.aborted {
            return None;
        }
        worker.aborted = true;
        worker.kill_at = earliest(worker.kill_at, Some(now + ABORT_GRACE));
        Some(Action::Signal {
            pid,
            signal: Signal::ABORT,
        })
    }

    /// Asks a worker to stop for good, and arms the timeout after which it is killed.
    fn retire(&mut self, pid: i32, now: Instant) -> Option<Action> {
        let worker = self.workers.get_mut(&pid)?;
        worker.retiring = true;
        worker.kill_at = earliest(worker.kill_at, self.graceful.map(|t| now + t));
        tracing::info!(pid, worker = worker.index, service = %self.services[worker.pool].name, "stopping worker");
        Some(Action::Signal {
            pid,
            signal: Signal::TERM,
        })
    }

    /// Changes how many workers a service should have: new ones start at the next
    /// [`Pool::fill`], the highest indexes stop gracefully.
    pub(super) fn set_target(&mut self, pool: usize, target: usize, now: Instant) -> Vec<Action> {
        let from = self.services[pool].target;
        self.services[pool].target = target;
        tracing::info!(service = %self.services[pool].name, from, to = target, "worker count changed");
        let extra: Vec<i32> = self
            .current(Some(pool))
            .filter(|(_, w)| w.index >= target)
            .map(|(&pid, _)| pid)
            .collect();
        extra
            .into_iter()
            .filter_map(|pid| self.retire(pid, now))
            .collect()
    }

    /// SIGTTIN: one worker more for every service below its maximum.
    pub(super) fn add_worker(&mut self, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        for pool in 0..self.services.len() {
            let service = &self.services[pool];
            let (workers, bound) = (service.target, *service.bounds.end());
            if workers >= bound {
                tracing::info!(service = %service.name, workers, bound, "service at its most workers, not adding one");
                continue;
            }
            actions.extend(self.set_target(pool, workers + 1, now));
        }
        actions
    }

    /// SIGTTOU: one worker less for every service above its minimum (at least 1).
    pub(super) fn remove_worker(&mut self, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        for pool in 0..self.services.len() {
            let service = &self.services[pool];
            let (workers, bound) = (service.target, (*service.bounds.start()).max(1));
            if workers <= bound {
                tracing::info!(service = %service.name, workers, bound, "service at its fewest workers, not removing one");
                continue;
            }
            actions.extend(self.set_target(pool, workers - 1, now));
        }
        actions
    }

    /// A reload begins (its configuration was read and accepted): `reload` starts a new
    /// generation, `mutate` asks every ready worker to re-read in place. Workers that
    /// have not acknowledged it when `graceful` has passed are replaced.
    pub(super) fn reload(&mut self, method: RestartMethod, now: Instant) -> Vec<Action> {
        self.reload_deadline = self.graceful.map(|timeout| now + timeout);
        match method {
            RestartMethod::Reload => {
                self.generation += 1;
                for service in &mut self.services {
                    service.rate.reset();
                }
                tracing::info!(
                    generation = self.generation,
                    "starting a new generation of workers"
                );
                Vec::new()
            }
            RestartMethod::Mutate => self
                .workers
                .iter_mut()
                // One that is not ready yet read the files when it started.
                .filter(|(_, w)| w.ready && !w.retiring)
                .map(|(&pid, w)| {
                    w.ready = false;
                    Action::Signal {
                        pid,
                        signal: Signal::HUP,
                    }
                })
                .collect(),
        }
    }

    /// The final stop: every worker is asked to stop, and killed after `deadline`. A
    /// worker already retiring keeps its own deadline: the stop does not extend it.
    pub(super) fn stop(&mut self, deadline: Option<Instant>) -> Vec<Action> {
        let mut actions = Vec::new();
        for (&pid, worker) in &mut self.workers {
            actions.push(Action::Signal {
                pid,
                signal: Signal::TERM,
            });
            if !worker.retiring {
                worker.retiring = true;
                // An aborted worker keeps its earlier kill.
                worker.kill_at = earliest(worker.kill_at, deadline);
            }
        }
        actions
    }

    /// The earliest kill due among the workers left.
    pub(super) fn next_kill(&self) -> Option<Instant> {
        self.workers.values().filter_map(|w| w.kill_at).min()
    }

    /// Every worker, forgotten: the caller kills them.
    pub(super) fn take_all(&mut self) -> Vec<i32> {
        std::mem::take(&mut self.workers).into_keys().collect()
    }
}

/// The earlier of two moments, `None` being never.
fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

mod clock;
mod memory;
#[cfg(test)]
mod tests;
