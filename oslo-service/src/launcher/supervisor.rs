//! The parent of worker processes: starts them, reaps and replaces them, reloads them
//! without downtime and stops them, driven by signals and by the workers' own reports.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, WaitOptions, WaitStatus};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::fork_rate::{ForkRate, PAUSE, Verdict};
use super::phase::{LauncherState, Phase};
use super::services::{RestartMethod, Services};
use super::spawn::{self, WorkerSpec};
use super::worker::{Frame, Frames, Outcome, answer_frame, handover_frame};
use crate::backdoor::{Console, WorkerView};
use crate::config::{Config, RuntimeOptions};
use crate::error::{Error, Result};
use crate::service::ServiceBase;
use crate::signals::{SignalEvent, SignalLoop, is_daemon};
use crate::systemd;

/// Claims one worker may have under way at once; more are answered with a refusal at
/// once, so a worker gone wrong cannot pile up tasks in its parent.
const MAX_CLAIMS_IN_FLIGHT: usize = 64;

/// A service and how many workers run it.
pub(super) struct Launched {
    pub(super) service: Arc<dyn ServiceBase>,
    pub(super) workers: usize,
}

/// What a [`LauncherHandle`](super::LauncherHandle) asks of a running launcher.
#[derive(Debug)]
pub(super) enum Command {
    SetWorkers { service: String, workers: usize },
}

/// One service and the number of workers it should have.
#[derive(Debug)]
struct ServicePool {
    name: String,
    target: usize,
    rate: ForkRate,
}

/// One live worker process.
#[derive(Debug)]
struct Worker {
    pool: usize,
    index: usize,
    generation: u64,
    ready: bool,
    /// Asked to stop for good: not replaced when it exits.
    retiring: bool,
    /// When a retiring worker is killed if it is still there.
    kill_at: Option<Instant>,
    started_at: std::time::SystemTime,
}

pub(super) struct Supervisor {
    conf: Config,
    restart_method: RestartMethod,
    options: RuntimeOptions,
    /// The service objects of the parent, for `reset()` after a reload.
    services: Services,
    pools: Vec<ServicePool>,
    workers: BTreeMap<i32, Worker>,
    generation: u64,
    /// When the workers that have not acknowledged the reload under way are replaced.
    reload_deadline: Option<Instant>,
    phase: Phase,
    ready_tx: mpsc::UnboundedSender<i32>,
    ready_rx: mpsc::UnboundedReceiver<i32>,
    commands: mpsc::UnboundedReceiver<Command>,
    /// The (service, index, generation) slots started so far, and how many times each
    /// (service, index) was started again within a generation: the restarts the debug
    /// console shows.
    started_slots: std::collections::BTreeSet<(usize, usize, u64)>,
    restarts: BTreeMap<(usize, usize), u64>,
}

impl Supervisor {
    pub(super) fn new(
        conf: Config,
        restart_method: RestartMethod,
        launched: Vec<Launched>,
        commands: mpsc::UnboundedReceiver<Command>,
    ) -> Result<Self> {
        let options = RuntimeOptions::read(&conf.snapshot())?;
        let mut services = Services::new(conf.clone());
        let mut pools = Vec::with_capacity(launched.len());
        for Launched { service, workers } in launched {
            pools.push(ServicePool {
                name: service.name().to_owned(),
                target: workers,
                rate: ForkRate::default(),
            });
            services.add(service);
        }
        let (ready_tx, ready_rx) = mpsc::unbounded_channel();
        Ok(Supervisor {
            conf,
            restart_method,
            options,
            services,
            pools,
            workers: BTreeMap::new(),
            generation: 0,
            reload_deadline: None,
            phase: Phase::new(),
            ready_tx,
            ready_rx,
            commands,
            started_slots: Default::default(),
            restarts: BTreeMap::new(),
        })
    }

    /// Starts every worker and supervises them until a signal ends the launcher.
    pub(super) async fn run(mut self) -> Result<()> {
        let mut signals = SignalLoop::install_supervisor()
            .map_err(|err| Error::io("cannot install signal handlers", err))?;
        tracing::info!(
            pid = std::process::id(),
            services = self.pools.len(),
            workers = self.workers_in_all(),
            "starting worker processes"
        );
        let console = Console::start(&self.conf)?;
        // The parent is the host's member; its workers claim cluster tasks on its
        // membership.
        crate::coordination::start(&self.conf, None)?;
        crate::coordination::wait_for_first_lease()
            .await
            .map_err(Error::other)?;
        self.fill(Instant::now());
        loop {
            if let Some(console) = &console {
                console.set_workers(self.worker_views());
            }
            let wake = self.next_deadline();
            tokio::select! {
                event = signals.next() => match event {
                    None | Some(SignalEvent::Interrupt) => return self.interrupt(),
                    Some(SignalEvent::Terminate) => {
                        tracing::info!(signal = %SignalEvent::Terminate, "caught signal, stopping workers");
                        return self.stop(&mut signals).await;
                    }
                    Some(SignalEvent::HangUp) if is_daemon() => {
                        tracing::info!(signal = %SignalEvent::HangUp, "caught signal, reloading the configuration");
                        self.hang_up().await;
                    }
                    Some(SignalEvent::HangUp) => {
                        tracing::info!(
                            signal = %SignalEvent::HangUp,
                            "caught signal in a terminal's foreground, stopping workers"
                        );
                        self.stop(&mut signals).await?;
                        return Err(Error::StoppedBySignal { signal: "SIGHUP" });
                    }
                    Some(SignalEvent::ChildExited) => self.reap(),
                    // Only a worker listens for its parent's death.
                    Some(SignalEvent::ParentGone) => {}
                    Some(SignalEvent::AddWorker) => {
                        tracing::info!(signal = %SignalEvent::AddWorker, "caught signal, adding a worker to every service");
                        for pool in 0..self.pools.len() {
                            self.set_target(pool, self.pools[pool].target + 1);
                        }
                    }
                    Some(SignalEvent::RemoveWorker) => {
                        tracing::info!(signal = %SignalEvent::RemoveWorker, "caught signal, removing a worker from every service");
                        for pool in 0..self.pools.len() {
                            match self.pools[pool].target {
                                0 | 1 => tracing::info!(service = %self.pools[pool].name, "keeping the last worker"),
                                target => self.set_target(pool, target - 1),
                            }
                        }
                    }
                },
                Some(pid) = self.ready_rx.recv() => self.mark_ready(pid),
                Some(command) = self.commands.recv() => self.command(command),
                () = sleep_until(wake) => {
                    let now = Instant::now();
                    self.kill_overdue(now);
                    self.replace_unacknowledged(now);
                }
            }
            self.fill(Instant::now());
            self.check_progress();
        }
    }

    /// The live workers, as the debug console's `workers` shows them.
    fn worker_views(&self) -> Vec<WorkerView> {
        self.workers
            .iter()
            .map(|(&pid, worker)| WorkerView {
                service: self.pools[worker.pool].name.clone(),
                index: worker.index,
                pid: pid.unsigned_abs(),
                generation: worker.generation,
                started_at: worker.started_at,
                restarts: self
                    .restarts
                    .get(&(worker.pool, worker.index))
                    .copied()
                    .unwrap_or(0),
                ready: worker.ready,
            })
            .collect()
    }

    /// How many workers every service should have, together.
    fn workers_in_all(&self) -> usize {
        self.pools.iter().map(|pool| pool.target).sum()
    }

    /// Starts the workers that are missing, as far as the fork rate allows.
    fn fill(&mut self, now: Instant) {
        if self.phase.state() == LauncherState::Stopping {
            return;
        }
        for pool in 0..self.pools.len() {
            for index in self.missing(pool) {
                let target = self.pools[pool].target;
                match self.pools[pool].rate.check(target, now) {
                    Verdict::Fork => self.start_worker(pool, index, now),
                    Verdict::Wait { first, .. } => {
                        if first {
                            tracing::info!(service = %self.pools[pool].name, "forking too fast, sleeping");
                        }
                        break;
                    }
                }
            }
        }
    }

    /// The worker indexes of the current generation that no live worker holds.
    fn missing(&self, pool: usize) -> Vec<usize> {
        let mut taken = vec![false; self.pools[pool].target];
        for worker in self.workers.values() {
            if worker.pool == pool && worker.generation == self.generation && !worker.retiring {
                if let Some(taken) = taken.get_mut(worker.index) {
                    *taken = true;
                }
            }
        }
        (0..taken.len()).filter(|&i| !taken[i]).collect()
    }

    fn start_worker(&mut self, pool: usize, index: usize, now: Instant) {
        let spec = WorkerSpec {
            service: pool,
            name: &self.pools[pool].name,
            worker: index,
            workers_in_all: self.workers_in_all(),
        };
        let spawned = match spawn::spawn(spec) {
            Ok(spawned) => spawned,
            Err(err) => {
                tracing::error!(service = %spec.name, worker = index, error = %err, "cannot start a worker process");
                self.pools[pool].rate.hold(now + PAUSE);
                return;
            }
        };
        let pid = spawned.pid.as_raw_pid();
        tracing::info!(service = %spec.name, worker = index, pid, "started worker");
        self.workers.insert(
            pid,
            Worker {
                pool,
                index,
                generation: self.generation,
                ready: false,
                retiring: false,
                kill_at: None,
                started_at: std::time::SystemTime::now(),
            },
        );
        if !self.started_slots.insert((pool, index, self.generation)) {
            *self.restarts.entry((pool, index)).or_default() += 1;
        }
        if let Err(err) = self.watch(pid, spawned.control) {
            // Without the socket the worker saw end-of-file and is exiting already.
            tracing::error!(pid, error = %err, "cannot watch the worker's control socket");
        }
    }

    /// Hands the worker the configuration its siblings run on, then reads its readiness
    /// reports and claims (answering each), in a task that holds the parent's end of its
    /// control socket until the worker closes its own.
    fn watch(&self, pid: i32, control: std::os::unix::net::UnixStream) -> std::io::Result<()> {
        control.set_nonblocking(true)?;
        let mut control = tokio::net::UnixStream::from_std(control)?;
        let ready = self.ready_tx.clone();
        let values = handover_frame(
            &self.conf.snapshot().to_bytes(),
            &self.conf.sources().to_bytes(),
        );
        tokio::spawn(async move {
            // Side by side: a program that does not read the configuration (a `main` of
            // its own) must still be heard when it is ready. Borrowed halves: dropping
            // one does not shut the socket down.
            let (mut reader, mut writer) = control.split();
            let (answers, mut to_send) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
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

    fn mark_ready(&mut self, pid: i32) {
        if let Some(worker) = self.workers.get_mut(&pid) {
            worker.ready = true;
            tracing::debug!(pid, worker = worker.index, service = %self.pools[worker.pool].name, "worker ready");
            if self.phase.state() != LauncherState::Running {
                systemd::notify_status(&self.readiness());
            }
        }
    }

    /// Collects every worker that exited and logs how.
    fn reap(&mut self) {
        let pids: Vec<i32> = self.workers.keys().copied().collect();
        for pid in pids {
            let Some(raw) = Pid::from_raw(pid) else {
                continue;
            };
            match rustix::process::waitpid(Some(raw), WaitOptions::NOHANG) {
                Ok(None) => {}
                Ok(Some((_, status))) => self.exited(pid, Some(status)),
                Err(err) => {
                    tracing::warn!(pid, error = %err, "cannot wait for worker");
                    self.exited(pid, None);
                }
            }
        }
    }

    fn exited(&mut self, pid: i32, status: Option<WaitStatus>) {
        let Some(worker) = self.workers.remove(&pid) else {
            return;
        };
        let service = &self.pools[worker.pool].name;
        let index = worker.index;
        let signal = status.and_then(WaitStatus::terminating_signal);
        let code = status.and_then(WaitStatus::exit_status);
        match (signal, code) {
            (Some(signal), _) => {
                tracing::info!(pid, worker = index, %service, signal, "child killed")
            }
            (None, Some(code)) => {
                tracing::info!(pid, worker = index, %service, status = code, "child exited")
            }
            (None, None) => tracing::info!(pid, worker = index, %service, "child gone"),
        }
        // A worker killed by a signal left its console's socket behind.
        if let Ok(pid) = u32::try_from(pid) {
            crate::backdoor::remove_socket_of_gone_process(&self.conf, pid);
        }
    }

    /// Changes how many workers a service should have: new ones start at once (as the
    /// fork rate allows), the highest indexes stop gracefully.
    fn set_target(&mut self, pool: usize, target: usize) {
        let from = self.pools[pool].target;
        self.pools[pool].target = target;
        tracing::info!(service = %self.pools[pool].name, from, to = target, "worker count changed");
        let extra: Vec<i32> = self
            .workers
            .iter()
            .filter(|(_, w)| {
                w.pool == pool
                    && w.generation == self.generation
                    && !w.retiring
                    && w.index >= target
            })
            .map(|(&pid, _)| pid)
            .collect();
        for pid in extra {
            self.retire(pid, Instant::now());
        }
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::SetWorkers { service, workers } => {
                let slots: Vec<usize> = (0..self.pools.len())
                    .filter(|&s| self.pools[s].name == service)
                    .collect();
                if slots.is_empty() {
                    tracing::warn!(%service, "no service of that name to set the worker count of");
                }
                for pool in slots {
                    self.set_target(pool, workers);
                }
            }
        }
    }

    /// Asks a worker to stop for good, and arms the timeout after which it is killed.
    fn retire(&mut self, pid: i32, now: Instant) {
        if let Some(worker) = self.workers.get_mut(&pid) {
            worker.retiring = true;
            worker.kill_at = self.options.graceful_shutdown_timeout.map(|t| now + t);
            tracing::info!(pid, worker = worker.index, service = %self.pools[worker.pool].name, "stopping worker");
            send(pid, Signal::TERM);
        }
    }

    fn kill_overdue(&mut self, now: Instant) {
        for (&pid, worker) in &mut self.workers {
            if worker.kill_at.is_some_and(|at| at <= now) {
                worker.kill_at = None;
                tracing::warn!(
                    pid,
                    worker = worker.index,
                    "worker did not stop within graceful_shutdown_timeout, killing it"
                );
                send(pid, Signal::KILL);
            }
        }
    }

    /// The next moment something is due: a paused fork or a retiring worker's kill.
    fn next_deadline(&self) -> Option<Instant> {
        let forks = (0..self.pools.len())
            .filter(|&pool| !self.missing(pool).is_empty())
            .filter_map(|pool| self.pools[pool].rate.held_until());
        let kills = self.workers.values().filter_map(|w| w.kill_at);
        forks.chain(kills).chain(self.reload_deadline).min()
    }

    /// Whether every worker of the current generation has reported ready.
    fn all_ready(&self) -> bool {
        (0..self.pools.len()).all(|pool| {
            let ready = self
                .workers
                .values()
                .filter(|w| {
                    w.pool == pool && w.generation == self.generation && !w.retiring && w.ready
                })
                .count();
            ready >= self.pools[pool].target
        })
    }

    /// Moves from starting or reloading to running once every worker is ready; a reload
    /// then retires the previous generation.
    fn check_progress(&mut self) {
        if !matches!(
            self.phase.state(),
            LauncherState::Starting | LauncherState::Reloading
        ) || !self.all_ready()
        {
            return;
        }
        self.settle();
    }

    /// A reload that some workers did not acknowledge by its deadline (hung in `reset`
    /// or `start`, stopped): each of them is killed and replaced, and the reload ends as
    /// if they had, so that the launcher never stays reloading.
    fn replace_unacknowledged(&mut self, now: Instant) {
        if self.phase.state() != LauncherState::Reloading
            || self.reload_deadline.is_none_or(|deadline| deadline > now)
        {
            return;
        }
        let laggards: Vec<i32> = self
            .workers
            .iter()
            .filter(|(_, w)| w.generation == self.generation && !w.retiring && !w.ready)
            .map(|(&pid, _)| pid)
            .collect();
        for pid in laggards {
            if let Some(worker) = self.workers.get_mut(&pid) {
                tracing::error!(
                    pid,
                    worker = worker.index,
                    service = %self.pools[worker.pool].name,
                    "worker did not acknowledge the reload within graceful_shutdown_timeout, replacing it"
                );
                worker.retiring = true;
                worker.kill_at = None;
                // SIGKILL: a worker that is stopped or hung would not act on SIGTERM.
                send(pid, Signal::KILL);
            }
        }
        self.settle();
    }

    /// The end of a start or a reload: the previous generation is asked to stop, and
    /// systemd hears READY=1.
    fn settle(&mut self) {
        self.reload_deadline = None;
        let old: Vec<i32> = self
            .workers
            .iter()
            .filter(|(_, w)| w.generation < self.generation && !w.retiring)
            .map(|(&pid, _)| pid)
            .collect();
        let now = Instant::now();
        for pid in old {
            self.retire(pid, now);
        }
        let workers = self.workers.values().filter(|w| !w.retiring).count();
        tracing::info!(workers, "all workers ready");
        self.phase.enter(LauncherState::Running);
        systemd::notify_ready_with_status(&self.readiness());
    }

    /// `3/4 workers ready`: the workers of the current generation that reported ready,
    /// out of how many there should be.
    fn readiness(&self) -> String {
        let ready = self
            .workers
            .values()
            .filter(|w| w.generation == self.generation && !w.retiring && w.ready)
            .count();
        format!("{ready}/{} workers ready", self.workers_in_all())
    }

    /// Applies a SIGHUP: re-reads the configuration, resets the services here, then
    /// starts a new generation of workers (`reload`; the old one stops once the new one
    /// is ready) or has every worker re-read its configuration in place (`mutate`).
    async fn hang_up(&mut self) {
        if !self.phase.reread(&self.conf, self.restart_method) {
            // The workers run on, on the old configuration.
            if self.phase.state() == LauncherState::Running {
                systemd::notify_ready_with_status(&self.readiness());
            }
            return;
        }
        if let Err(err) = crate::coordination::follow_reload(&self.conf, None) {
            tracing::error!(error = %err, "coordination keeps its old backend");
        }
        self.reload_deadline = self
            .options
            .graceful_shutdown_timeout
            .map(|timeout| Instant::now() + timeout);
        self.services.reset().await;
        match self.restart_method {
            RestartMethod::Reload => {
                self.generation += 1;
                for pool in &mut self.pools {
                    pool.rate.reset();
                }
                tracing::info!(
                    generation = self.generation,
                    "starting a new generation of workers"
                );
            }
            RestartMethod::Mutate => {
                for (&pid, worker) in &mut self.workers {
                    // One that is not ready yet read the files when it started.
                    if worker.ready && !worker.retiring {
                        worker.ready = false;
                        send(pid, Signal::HUP);
                    }
                }
            }
        }
    }

    /// SIGTERM (or SIGHUP in a terminal): every worker is asked to stop, and killed if
    /// it has not within `graceful_shutdown_timeout`. A worker already stopping (the old
    /// generation of a reload) keeps its own deadline: the SIGTERM does not extend it.
    async fn stop(&mut self, signals: &mut SignalLoop) -> Result<()> {
        self.phase
            .begin_stop(self.options.graceful_shutdown_timeout);
        // Leaving first hands leadership, locks and cluster tasks over at once.
        crate::coordination::stop().await;
        let now = Instant::now();
        let deadline = self.options.graceful_shutdown_timeout.map(|t| now + t);
        for (&pid, worker) in &mut self.workers {
            send(pid, Signal::TERM);
            if !worker.retiring {
                worker.retiring = true;
                worker.kill_at = deadline;
            }
        }
        let children = self.workers.len();
        tracing::info!(children, "waiting on children to exit");
        while !self.workers.is_empty() {
            let wake = self.workers.values().filter_map(|w| w.kill_at).min();
            tokio::select! {
                event = signals.next() => match event {
                    None | Some(SignalEvent::Interrupt) => return self.interrupt(),
                    Some(SignalEvent::ChildExited) => {
                        self.reap();
                        systemd::notify_status(&format!("stopping: {} workers left", self.workers.len()));
                    }
                    Some(_) => {}
                },
                () = sleep_until(wake) => {
                    let now = Instant::now();
                    if deadline.is_some_and(|deadline| deadline <= now) {
                        tracing::error!(
                            children = self.workers.len(),
                            "graceful shutdown timeout exceeded, killing the workers left"
                        );
                        self.kill_all();
                        return Err(Error::GracefulShutdownTimeout);
                    }
                    self.kill_overdue(now);
                }
            }
        }
        tracing::info!("all workers stopped");
        Ok(())
    }

    /// SIGINT: every worker is killed at once.
    fn interrupt(&mut self) -> Result<()> {
        // The caller logs the error "caught SIGINT, exiting at once".
        tracing::info!(signal = %SignalEvent::Interrupt, "caught signal, killing every worker");
        self.kill_all();
        Err(Error::Interrupted)
    }

    fn kill_all(&mut self) {
        for &pid in self.workers.keys() {
            send(pid, Signal::KILL);
        }
        for (pid, _) in std::mem::take(&mut self.workers) {
            if let Some(raw) = Pid::from_raw(pid) {
                // After SIGKILL the wait is short; it leaves no zombie behind.
                let _ = rustix::process::waitpid(Some(raw), WaitOptions::empty());
            }
        }
    }
}

fn send(pid: i32, signal: Signal) {
    if let Some(raw) = Pid::from_raw(pid) {
        if let Err(err) = rustix::process::kill_process(raw, signal) {
            tracing::debug!(pid, signal = signal.as_raw(), error = %err, "cannot signal worker");
        }
    }
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

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
