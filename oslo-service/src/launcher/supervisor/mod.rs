//! The parent of worker processes: the event loop that turns signals, the workers'
//! reports and timers into events for the pool's rules (`pool`), and carries out what
//! they ask: start a worker, signal one, tell systemd. The control socket of each
//! worker is `control`'s.

mod control;
mod events;
mod memory;
mod pool;
mod scrape;
mod stopping;

use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use rustix::process::{Pid, Signal};
use tokio::sync::mpsc;

use super::phase::{LauncherState, Phase};
use super::services::{RestartMethod, Services};
use super::spawn::{self, WorkerSpec};
use super::upgrade::{self, Outcome, Successor};
use super::upgrade_requests;
use crate::backdoor::{Console, WorkerView};
use crate::config::{Config, RuntimeOptions};
use crate::error::{Error, Result};
use crate::service::ServiceBase;
use crate::signals::{SignalEvent, SignalLoop, is_daemon};
use crate::systemd;
use control::WorkerEvent;
use pool::{Action, Pool};
use scrape::Scrapes;

/// The parent's end of a live worker's control socket.
struct Link {
    /// Frames to write to the worker.
    frames: mpsc::UnboundedSender<Vec<u8>>,
    /// Its readiness reports, taken in one at a time.
    ready: control::ReadyReport,
    /// When its runtime last answered the heartbeat.
    last_heard: Option<SystemTime>,
}

/// A service, how many workers run it and how many it may have.
pub(super) struct Launched {
    pub(super) service: Arc<dyn ServiceBase>,
    pub(super) workers: usize,
    pub(super) bounds: RangeInclusive<usize>,
}

/// What a [`LauncherHandle`](super::LauncherHandle) asks of a running launcher.
#[derive(Debug)]
pub(super) enum Command {
    SetWorkers { service: String, workers: usize },
}

pub(super) struct Supervisor {
    conf: Config,
    restart_method: RestartMethod,
    options: RuntimeOptions,
    /// The service objects of the parent, for `reset()` after a reload.
    services: Services,
    pool: Pool,
    phase: Phase,
    events_tx: mpsc::UnboundedSender<WorkerEvent>,
    events_rx: mpsc::UnboundedReceiver<WorkerEvent>,
    /// Each live worker's control socket, to send it frames, and when its runtime last
    /// answered the heartbeat.
    links: HashMap<i32, Link>,
    commands: mpsc::UnboundedReceiver<Command>,
    /// The new executable a SIGUSR2 started, until it is ready or has failed.
    successor: Option<Successor>,
    /// The workers a scrape of the metrics endpoint asks.
    scrapes: Scrapes,
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
        let mut wanted = Vec::with_capacity(launched.len());
        let mut bounds = Vec::with_capacity(launched.len());
        for launched in launched {
            wanted.push((launched.service.name().to_owned(), launched.workers));
            bounds.push(launched.bounds);
            services.add(launched.service);
        }
        let mut pool = Pool::new(wanted, options.graceful_shutdown_timeout);
        for (index, bounds) in bounds.into_iter().enumerate() {
            pool.set_bounds(index, bounds);
        }
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        Ok(Supervisor {
            pool,
            conf,
            restart_method,
            options,
            services,
            phase: Phase::new(),
            events_tx,
            events_rx,
            links: HashMap::new(),
            commands,
            successor: None,
            scrapes: Scrapes::default(),
        })
    }

    /// Starts every worker and supervises them until a signal ends the launcher.
    pub(super) async fn run(mut self) -> Result<()> {
        let mut signals = SignalLoop::install_supervisor()
            .map_err(|err| Error::io("cannot install signal handlers", err))?;
        tracing::info!(
            pid = std::process::id(),
            services = self.pool.services(),
            workers = self.pool.workers_in_all(),
            "starting worker processes"
        );
        let console = Console::start(&self.conf)?;
        let scrapes: Arc<dyn crate::metrics::WorkerMetrics> = Arc::new(self.scrapes.clone());
        let _metrics = crate::metrics::serve(&self.conf, Some(scrapes))?;
        // The health probes ask this loop of its workers; it answers as it turns.
        let (asker, mut health_asks) = tokio::sync::mpsc::channel(8);
        crate::health::supervised_by(asker);
        let mut health = crate::health::serve(&self.conf)?;
        // `--upgrade PID` asks here.
        let _upgrade_requests = upgrade_requests::listen();
        // The parent is the host's member; its workers claim cluster tasks on its
        // membership.
        crate::coordination::start(&self.conf, None)?;
        crate::coordination::wait_for_first_lease()
            .await
            .map_err(Error::other)?;
        self.fill();
        let mut measure = tokio::time::interval(memory::EVERY);
        measure.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if let Some(console) = &console {
                console.set_workers(self.worker_views());
            }
            self.record_workers();
            let wake = self.pool.next_deadline();
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
                    Some(SignalEvent::Upgrade) => self.upgrade(),
                    // Only a worker listens for its parent's death.
                    Some(SignalEvent::ParentGone) => {}
                    Some(SignalEvent::AddWorker) => {
                        tracing::info!(signal = %SignalEvent::AddWorker, "caught signal, adding a worker to every service");
                        let actions = self.pool.add_worker(Instant::now());
                        self.carry_out(actions);
                    }
                    Some(SignalEvent::RemoveWorker) => {
                        tracing::info!(signal = %SignalEvent::RemoveWorker, "caught signal, removing a worker from every service");
                        let actions = self.pool.remove_worker(Instant::now());
                        self.carry_out(actions);
                    }
                },
                Some(event) = self.events_rx.recv() => self.worker_event(event),
                Some(command) = self.commands.recv() => self.command(command),
                Some(reply) = health_asks.recv() => {
                    let _ = reply.send(self.pool.health());
                }
                outcome = upgrade::outcome_of(&mut self.successor) => {
                    let pid = self.successor.take().map(|s| s.pid());
                    match outcome {
                        Outcome::Ready => {
                            upgrade_requests::succeeded(pid);
                            // The successor answers the probes on the shared socket
                            // from now on; this process's "stopping" must not.
                            health.take();
                            return self.hand_over(pid, &mut signals).await;
                        }
                        Outcome::Failed(reason) => {
                            tracing::error!(successor = pid, %reason, "upgrade failed, serving on");
                            upgrade_requests::failed(&reason);
                        }
                    }
                }
                _ = measure.tick(), if self.options.max_memory.is_some() => self.check_memory(),
                () = crate::future::sleep_until(wake) => {
                    let actions = self.pool.tick(self.phase.state(), Instant::now());
                    self.carry_out(actions);
                }
            }
            self.fill();
            let actions = self.pool.progress(self.phase.state(), Instant::now());
            self.carry_out(actions);
        }
    }

    /// Carries out what the pool's rules asked for.
    fn carry_out(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Start { pool, index } => self.start_worker(pool, index),
                Action::Signal { pid, signal } => send(pid, signal),
                Action::Settled { status } => {
                    let workers = self.pool.workers().values().filter(|w| !w.retiring).count();
                    tracing::info!(workers, "all workers ready");
                    self.phase.enter(LauncherState::Running);
                    // The old generation was asked to stop: a moved address's old
                    // socket refuses clients from now on.
                    crate::net::close_retired();
                    // The successor of an upgrade takes over from its predecessor here.
                    let status = match upgrade::announce_ready() {
                        true => format!("{status} (upgraded)"),
                        false => status,
                    };
                    systemd::notify_ready_with_status(&status);
                }
            }
        }
    }

    fn fill(&mut self) {
        let actions = self.pool.fill(self.phase.state(), Instant::now());
        self.carry_out(actions);
    }

    /// The live workers, as the debug console's `workers` shows them.
    fn worker_views(&self) -> Vec<WorkerView> {
        self.pool
            .workers()
            .iter()
            .map(|(&pid, worker)| WorkerView {
                service: self.pool.name(worker.pool).to_owned(),
                index: worker.index,
                pid: pid.unsigned_abs(),
                generation: worker.generation,
                started_at: worker.started_at,
                restarts: self.pool.restarts(worker.pool, worker.index),
                ready: worker.ready,
                last_answer: self.links.get(&pid).and_then(|link| link.last_heard),
            })
            .collect()
    }

    /// The workers' gauges of the metrics.
    fn record_workers(&self) {
        for pool in 0..self.pool.services() {
            let workers = self.pool.workers().values().filter(|w| w.pool == pool);
            let (alive, ready) = workers.fold((0, 0), |(alive, ready), worker| {
                (alive + 1, ready + usize::from(worker.ready))
            });
            crate::metrics::workers(self.pool.name(pool), self.pool.target(pool), alive, ready);
        }
    }

    fn start_worker(&mut self, pool: usize, index: usize) {
        let spec = WorkerSpec {
            service: pool,
            name: self.pool.name(pool),
            worker: index,
            workers_in_all: self.pool.workers_in_all(),
        };
        let spawned = match spawn::spawn(spec) {
            Ok(spawned) => spawned,
            Err(err) => {
                tracing::error!(service = %spec.name, worker = index, error = %err, "cannot start a worker process");
                self.pool.start_failed(pool, Instant::now());
                return;
            }
        };
        let pid = spawned.pid.as_raw_pid();
        tracing::info!(service = %spec.name, worker = index, pid, "started worker");
        // `max_worker_lifetime`, with its jitter drawn for this worker.
        let recycle_at = self.options.max_lifetime.map(|(lifetime, jitter)| {
            let jitter = jitter.mul_f64(fastrand::f64());
            Instant::now() + lifetime + jitter
        });
        self.pool
            .started(pool, index, pid, SystemTime::now(), recycle_at);
        let heartbeat = self.options.heartbeat;
        match control::watch(
            &self.conf,
            pid,
            spawned.control,
            self.events_tx.clone(),
            heartbeat,
            self.scrapes.slot(self.pool.name(pool), index),
        ) {
            Ok(watched) => {
                let link = Link {
                    frames: watched.frames,
                    ready: watched.ready,
                    last_heard: None,
                };
                self.links.insert(pid, link);
            }
            // Without the socket the worker saw end-of-file and is exiting already.
            Err(err) => {
                tracing::error!(pid, error = %err, "cannot watch the worker's control socket")
            }
        }
    }

    fn set_target(&mut self, pool: usize, target: usize) {
        let actions = self.pool.set_target(pool, target, Instant::now());
        self.carry_out(actions);
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::SetWorkers { service, workers } => {
                let slots: Vec<usize> = (0..self.pool.services())
                    .filter(|&s| self.pool.name(s) == service)
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

    /// Applies a SIGHUP: re-reads the configuration, resets the services here, then
    /// starts a new generation of workers (`reload`; the old one stops once the new one
    /// is ready) or has every worker re-read its configuration in place (`mutate`).
    async fn hang_up(&mut self) {
        if !self.phase.reread(&self.conf, self.restart_method) {
            // The workers run on, on the old configuration.
            if self.phase.state() == LauncherState::Running {
                let status = Phase::status(&self.conf, &self.pool.readiness());
                systemd::notify_ready_with_status(&status);
            }
            return;
        }
        if let Err(err) = crate::coordination::follow_reload(&self.conf, None) {
            tracing::error!(error = %err, "coordination keeps its old backend");
        }
        self.services.reset().await;
        // As oslo.service reads it at SIGTERM: a reloaded graceful_shutdown_timeout counts.
        match RuntimeOptions::read(&self.conf.snapshot()) {
            Ok(options) => {
                self.pool.set_graceful(options.graceful_shutdown_timeout);
                self.options = options;
            }
            Err(err) => tracing::error!(error = %err, "keeping the runtime's options"),
        }
        let actions = self.pool.reload(self.restart_method, Instant::now());
        self.carry_out(actions);
    }
}

fn send(pid: i32, signal: Signal) {
    if let Some(raw) = Pid::from_raw(pid) {
        if let Err(err) = rustix::process::kill_process(raw, signal) {
            tracing::debug!(pid, signal = signal.as_raw(), error = %err, "cannot signal worker");
        }
    }
}
