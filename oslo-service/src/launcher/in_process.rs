//! [`ServiceLauncher`]: services in this process, under the signal loop; also what runs
//! inside each worker process.

use std::fmt;
use std::sync::Arc;

use super::phase::{LauncherState, Phase};
use super::role::{Role, runtime_options};
use super::services::{RestartMethod, Services};
use super::upgrade::{self, Outcome, Successor};
use super::upgrade_requests;
use super::worker::parent_died;
use crate::backdoor::Console;
use crate::config::{Config, RuntimeOptions};
use crate::error::{Error, Result};
use crate::service::ServiceBase;
use crate::signals::{Interrupted, SignalEvent, SignalLoop, is_daemon};
use crate::systemd;

/// Runs services in this process: oslo.service's `ServiceLauncher`.
///
/// - SIGTERM stops every service gracefully; if they take longer than
///   `graceful_shutdown_timeout` seconds (default 60, 0 waits forever) the process exits
///   with status 1.
/// - SIGINT exits at once with status 1.
/// - SIGHUP reloads the configuration and restarts the services when the process is a
///   daemon (see [`is_daemon`](crate::signals::is_daemon)); in a terminal's foreground it
///   stops them and exits.
///
/// ```no_run
/// # struct Api; impl oslo::ServiceBase for Api { fn name(&self) -> &str { "api" } }
/// # struct Poller; impl oslo::ServiceBase for Poller { fn name(&self) -> &str { "poller" } }
/// # async fn run(conf: oslo::Config) -> oslo::Result<()> {
/// use oslo::{RestartMethod, ServiceLauncher};
///
/// ServiceLauncher::new(conf)
///     .restart_method(RestartMethod::Mutate)
///     .launch_service(Api)
///     .launch_service(Poller)
///     .run()
///     .await
/// # }
/// ```
pub struct ServiceLauncher {
    conf: Config,
    services: Services,
    restart_method: RestartMethod,
    phase: Phase,
}

impl fmt::Debug for ServiceLauncher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceLauncher")
            .field("services", &self.services.len())
            .field("restart_method", &self.restart_method)
            .field("state", &self.phase.state())
            .finish()
    }
}

impl ServiceLauncher {
    /// A launcher with no services, reloading in `reload` mode.
    pub fn new(conf: Config) -> Self {
        ServiceLauncher {
            services: Services::new(conf.clone()),
            conf,
            restart_method: RestartMethod::Reload,
            phase: Phase::new(),
        }
    }

    /// The launcher inside worker process `worker`, running `service` alone.
    pub(super) fn for_worker(conf: Config, worker: usize, service: Arc<dyn ServiceBase>) -> Self {
        let mut services = Services::in_worker(conf.clone(), worker);
        services.add(service);
        ServiceLauncher {
            services,
            conf,
            restart_method: RestartMethod::Reload,
            phase: Phase::new(),
        }
    }

    /// How SIGHUP applies a new configuration.
    pub fn restart_method(mut self, method: RestartMethod) -> Self {
        self.restart_method = method;
        self
    }

    /// Adds a service, to run in this process.
    pub fn launch_service<S: ServiceBase>(mut self, service: S) -> Self {
        self.services.add(Arc::new(service));
        self
    }

    /// Starts every service, tells systemd it is ready, and handles signals until one
    /// ends the process. Returns `Ok` after a graceful stop, an error for every other
    /// end: the process should then exit with status 1.
    pub async fn run(self) -> Result<()> {
        self.run_as(Role::Standalone).await
    }

    pub(super) async fn run_as(mut self, role: Role) -> Result<()> {
        let signals = match role {
            Role::Standalone => SignalLoop::install_standalone(),
            Role::Worker(_) => SignalLoop::install_worker(),
        };
        let mut signals =
            signals.map_err(|err| Error::io("cannot install signal handlers", err))?;
        let mut options = runtime_options(&self.conf, &role)?;
        // This process keeps root for its reloads and upgrades (binding again, reopening
        // its log): only worker processes take another user.
        if matches!(role, Role::Standalone) && crate::privileges::workers().is_some() {
            tracing::warn!(
                uid = rustix::process::geteuid().as_raw(),
                "user and group apply to worker processes only: this service runs in one process, as it was started"
            );
        }
        if let Role::Worker(link) = &role {
            link.watch_parent()
                .map_err(|err| Error::io("cannot watch the parent process", err))?;
            // The worker's span carries its service, index and pid.
            tracing::info!("worker starting");
        }

        let console = match Console::start(&self.conf) {
            Ok(console) => console,
            // A worker without its console still serves; its parent says why.
            Err(err) if role.is_worker() => {
                tracing::warn!(error = %err, "no debug console in this worker");
                None
            }
            Err(err) => return Err(err),
        };

        // The top process serves the metrics; a worker's go through its parent. The
        // same for the health probes.
        let (_metrics, mut health) = match &role {
            Role::Standalone => (
                crate::metrics::serve(&self.conf, None)?,
                crate::health::serve(&self.conf)?,
            ),
            Role::Worker(_) => (None, None),
        };
        // `--upgrade PID` asks the top process.
        let _upgrade_requests = match &role {
            Role::Standalone => upgrade_requests::listen(),
            Role::Worker(_) => None,
        };

        // Before the services: their cluster tasks claim their runs through it.
        // A worker asks its parent, the host's member, to claim its cluster tasks' runs.
        let parent = match &role {
            Role::Worker(link) => Some(link.asker()),
            Role::Standalone => None,
        };
        crate::coordination::start(&self.conf, parent.clone())?;
        signals
            .guard(crate::coordination::wait_for_first_lease())
            .await
            .map_err(|Interrupted| Error::Interrupted)?
            .map_err(Error::other)?;
        signals
            .guard(self.services.start())
            .await
            .map_err(|Interrupted| Error::Interrupted)??;
        self.phase.enter(LauncherState::Running);
        if let Some(console) = &console {
            console.set_services(self.services.contexts());
        }
        role.ready(&self.conf);

        // The new executable a SIGUSR2 started, until it is ready or has failed.
        let mut successor: Option<Successor> = None;
        // `max_requests`, with its jitter drawn for this worker: then its parent
        // replaces it.
        let mut recycle_pending = false;
        if let (Role::Worker(_), Some((max, jitter))) = (&role, options.max_requests) {
            crate::service::set_request_limit(max.saturating_add(fastrand::u64(0..=jitter)));
            recycle_pending = true;
        }
        loop {
            let event = tokio::select! {
                event = signals.next() => event,
                () = crate::service::request_limit_reached(), if recycle_pending => {
                    recycle_pending = false;
                    if let Role::Worker(link) = &role {
                        tracing::info!("served max_requests, asking the parent for a replacement");
                        link.report_recycle();
                    }
                    continue;
                }
                outcome = upgrade::outcome_of(&mut successor) => {
                    let pid = successor.take().map(|s| s.pid());
                    match outcome {
                        Outcome::Ready => {
                            upgrade_requests::succeeded(pid);
                            // The successor answers the probes on the shared socket
                            // from now on; this process's "stopping" must not.
                            health.take();
                            return self.hand_over(pid, &mut signals, &options).await;
                        }
                        Outcome::Failed(reason) => {
                            tracing::error!(successor = pid, %reason, "upgrade failed, serving on");
                            upgrade_requests::failed(&reason);
                        }
                    }
                    continue;
                }
            };
            match event {
                Some(SignalEvent::Interrupt) | None => return Err(Error::Interrupted),
                Some(SignalEvent::Upgrade) if successor.is_some() => {
                    tracing::warn!("an upgrade is under way already");
                    upgrade_requests::refused("an upgrade is under way already");
                }
                Some(SignalEvent::Upgrade) => {
                    match Successor::start(options.graceful_shutdown_timeout) {
                        Ok(started) => {
                            tracing::info!(
                                signal = %SignalEvent::Upgrade,
                                successor = started.pid(),
                                "caught signal, started the executable on disk"
                            );
                            successor = Some(started);
                            upgrade_requests::started();
                        }
                        Err(err) => {
                            tracing::error!(error = %err, "upgrade failed: cannot start the executable on disk, serving on");
                            upgrade_requests::refused(&format!(
                                "cannot start the executable on disk: {err}"
                            ));
                        }
                    }
                }
                Some(SignalEvent::Terminate | SignalEvent::ParentGone) if role.orphaned() => {
                    parent_died()
                }
                // The thread that forked this worker ended but the parent process is
                // still there (or still dying): its control socket's end-of-file decides.
                Some(SignalEvent::ParentGone) => {
                    tracing::debug!("parent-death signal while the parent lives on")
                }
                Some(SignalEvent::Terminate) => {
                    tracing::info!(signal = %SignalEvent::Terminate, "caught signal, stopping services gracefully");
                    // A new executable still starting stops with this one.
                    if let Some(successor) = successor.take() {
                        successor.kill();
                    }
                    // A worker's parent applies the delay for all its workers.
                    if !role.is_worker() && !options.shutdown_delay.is_zero() {
                        super::phase::delay_stop(
                            &mut signals,
                            options.shutdown_delay,
                            options.graceful_shutdown_timeout,
                        )
                        .await?;
                    }
                    let stopped = self.shutdown(&mut signals, &options).await;
                    role.stopped().await;
                    return stopped;
                }
                // A worker's SIGHUP comes from its parent, never from a terminal.
                Some(SignalEvent::HangUp) if role.is_worker() || is_daemon() => {
                    tracing::info!(signal = %SignalEvent::HangUp, "caught signal, reloading the configuration");
                    self.reload(&mut signals, &options, parent.clone()).await?;
                    // As oslo.service reads it at SIGTERM: a reloaded value counts.
                    options = runtime_options(&self.conf, &role)?;
                    if let Some(console) = &console {
                        console.set_services(self.services.contexts());
                    }
                    role.ready(&self.conf);
                }
                Some(SignalEvent::HangUp) => {
                    tracing::info!(
                        signal = %SignalEvent::HangUp,
                        "caught signal in a terminal's foreground, stopping services"
                    );
                    self.shutdown(&mut signals, &options).await?;
                    return Err(Error::StoppedBySignal { signal: "SIGHUP" });
                }
                // Only PID 1 listens for it: the orphans it adopted, not the successor
                // its upgrade waits for.
                Some(SignalEvent::ChildExited) => {
                    let successor = successor.as_ref().map(Successor::pid);
                    crate::orphans::reap(|pid| successor == Some(pid));
                }
                // Only a parent of workers listens for these.
                Some(SignalEvent::AddWorker | SignalEvent::RemoveWorker) => {}
            }
        }
    }

    /// The successor of a binary upgrade is ready and systemd's main process: this
    /// process says nothing more to systemd, stops its services as on SIGTERM (the
    /// shared sockets stay open: the successor accepts on them) and exits 0.
    async fn hand_over(
        &mut self,
        successor: Option<i32>,
        signals: &mut SignalLoop,
        options: &RuntimeOptions,
    ) -> Result<()> {
        tracing::info!(
            successor,
            "the new executable is ready, stopping this one's services"
        );
        systemd::hand_over();
        self.phase.enter(LauncherState::Stopping);
        crate::coordination::stop().await;
        self.stop_within_timeout(signals, options).await?;
        tracing::info!("services stopped");
        Ok(())
    }

    /// Stops and waits for every service within `graceful_shutdown_timeout`.
    async fn shutdown(&mut self, signals: &mut SignalLoop, options: &RuntimeOptions) -> Result<()> {
        self.phase.begin_stop(options.graceful_shutdown_timeout);
        // Leaving first hands leadership, locks and cluster tasks over at once.
        crate::coordination::stop().await;
        self.stop_within_timeout(signals, options).await?;
        tracing::info!("services stopped");
        Ok(())
    }

    async fn stop_within_timeout(
        &mut self,
        signals: &mut SignalLoop,
        options: &RuntimeOptions,
    ) -> Result<()> {
        let services = &self.services;
        let stopped = async {
            services.stop().await;
            services.wait().await;
        };
        let within_timeout = async {
            match options.graceful_shutdown_timeout {
                Some(timeout) => tokio::time::timeout(timeout, stopped).await.is_ok(),
                None => {
                    stopped.await;
                    true
                }
            }
        };
        let in_time = signals
            .guard(within_timeout)
            .await
            .map_err(|Interrupted| Error::Interrupted)?;
        // Signals that arrived while stopping ask for what is already happening.
        signals.forget_deferred();
        if in_time {
            Ok(())
        } else {
            Err(Error::GracefulShutdownTimeout)
        }
    }

    /// Applies a SIGHUP: re-reads the configuration, then restarts (`reload`) or resets
    /// (`mutate`) every service. A configuration that does not load is refused whole:
    /// the services keep running on the old one.
    async fn reload(
        &mut self,
        signals: &mut SignalLoop,
        options: &RuntimeOptions,
        parent: Option<std::sync::Arc<dyn crate::coordination::AskParent>>,
    ) -> Result<()> {
        if !self.phase.reread(&self.conf, self.restart_method) {
            return Ok(());
        }
        if let Err(err) = crate::coordination::follow_reload(&self.conf, parent) {
            tracing::error!(error = %err, "coordination keeps its old backend");
        }
        match self.restart_method {
            RestartMethod::Reload => {
                self.stop_within_timeout(signals, options).await?;
                let services = &mut self.services;
                signals
                    .guard(services.restart_stopped())
                    .await
                    .map_err(|Interrupted| Error::Interrupted)??;
            }
            RestartMethod::Mutate => {
                signals
                    .guard(self.services.reset())
                    .await
                    .map_err(|Interrupted| Error::Interrupted)?;
            }
        }
        self.phase.enter(LauncherState::Running);
        Ok(())
    }
}
