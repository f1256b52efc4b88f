//! [`ProcessLauncher`]: each service in worker processes of its own. In the parent it
//! hands over to the supervisor; in a worker it runs that worker's service with the
//! in-process launcher.

use std::fmt;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::check_workers;
use super::in_process::ServiceLauncher;
use super::role::Role;
use super::services::RestartMethod;
use super::supervisor::{Command, Launched, Supervisor};
use super::worker::{Marker, ParentLink, marker};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::service::ServiceBase;

/// Runs each service in worker processes of its own: oslo.service's `ProcessLauncher`.
///
/// ```no_run
/// # struct Api; impl oslo::ServiceBase for Api { fn name(&self) -> &str { "api" } }
/// # struct Conductor; impl oslo::ServiceBase for Conductor { fn name(&self) -> &str { "conductor" } }
/// #[oslo::main]
/// async fn main(conf: oslo::Config) -> oslo::Result<()> {
///     let launcher = oslo::ProcessLauncher::new(conf)
///         .launch_service(Api, 4)
///         .launch_service(Conductor, 2);
///     let handle = launcher.handle();
///     // Later, from any task: handle.set_workers("api", 8)?;
///     # drop(handle);
///     launcher.run().await
/// }
/// ```
///
/// The program must build the same launcher, with the same services in the same order,
/// every time it runs: workers are the same program started again, and find their
/// service by its position and name. See the [module documentation](super) for the
/// signals.
pub struct ProcessLauncher {
    conf: Config,
    restart_method: RestartMethod,
    launched: Vec<Launched>,
    commands_tx: mpsc::UnboundedSender<Command>,
    commands_rx: mpsc::UnboundedReceiver<Command>,
}

impl fmt::Debug for ProcessLauncher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let services: Vec<(&str, usize)> = self
            .launched
            .iter()
            .map(|l| (l.service.name(), l.workers))
            .collect();
        f.debug_struct("ProcessLauncher")
            .field("services", &services)
            .field("restart_method", &self.restart_method)
            .finish_non_exhaustive()
    }
}

impl ProcessLauncher {
    /// A launcher with no services, reloading in `reload` mode.
    pub fn new(conf: Config) -> Self {
        let (commands_tx, commands_rx) = mpsc::unbounded_channel();
        ProcessLauncher {
            conf,
            restart_method: RestartMethod::Reload,
            launched: Vec::new(),
            commands_tx,
            commands_rx,
        }
    }

    /// How SIGHUP applies a new configuration.
    pub fn restart_method(mut self, method: RestartMethod) -> Self {
        self.restart_method = method;
        self
    }

    /// Adds a service, to run in `workers` processes of its own (at least 1).
    pub fn launch_service<S: ServiceBase>(mut self, service: S, workers: usize) -> Self {
        self.launched.push(Launched {
            service: Arc::new(service),
            workers,
        });
        self
    }

    /// Sets how many workers the services named `service` get.
    pub fn set_workers(&mut self, service: &str, workers: usize) -> Result<()> {
        check_workers(workers)?;
        let mut found = false;
        for launched in self
            .launched
            .iter_mut()
            .filter(|l| l.service.name() == service)
        {
            launched.workers = workers;
            found = true;
        }
        found.then_some(()).ok_or_else(|| no_such_service(service))
    }

    /// A handle that changes worker counts while [`ProcessLauncher::run`] runs.
    pub fn handle(&self) -> LauncherHandle {
        LauncherHandle {
            names: self
                .launched
                .iter()
                .map(|l| l.service.name().to_owned())
                .collect(),
            commands: self.commands_tx.clone(),
        }
    }

    /// In the parent: starts every worker, tells systemd it is ready once all are, and
    /// supervises them until a signal ends the launcher. In a worker: runs that worker's
    /// service until its parent stops it.
    ///
    /// Returns `Ok` after a graceful stop, an error for every other end: the process
    /// should then exit with status 1.
    pub async fn run(self) -> Result<()> {
        for launched in &self.launched {
            check_workers(launched.workers)?;
        }
        if let Some(marker) = marker()? {
            return self.run_worker(marker).await;
        }
        if self.launched.is_empty() {
            return Err(Error::Launch("no service to launch".to_owned()));
        }
        // Worker processes are started from the task that runs this future; the
        // commands sent before now are applied as the supervisor starts.
        let ProcessLauncher {
            conf,
            restart_method,
            launched,
            commands_rx,
            ..
        } = self;
        Supervisor::new(conf, restart_method, launched, commands_rx)?
            .run()
            .await
    }

    async fn run_worker(self, marker: &Marker) -> Result<()> {
        let Some(launched) = self.launched.into_iter().nth(marker.service) else {
            return Err(Error::Launch(format!(
                "this worker runs service #{} ('{}'), but the launcher has no service at that position",
                marker.service, marker.name
            )));
        };
        if launched.service.name() != marker.name {
            return Err(Error::Launch(format!(
                "this worker runs service #{} ('{}'), but the launcher's service at that position is '{}'",
                marker.service,
                marker.name,
                launched.service.name()
            )));
        }
        let link = ParentLink::take(marker)
            .map_err(|err| Error::io("cannot use the control socket", err))?;
        let span = tracing::info_span!(
            "worker",
            service = %marker.name,
            worker = marker.worker,
            pid = std::process::id()
        );
        let run = ServiceLauncher::for_worker(self.conf, marker.worker, launched.service)
            .restart_method(self.restart_method)
            .run_as(Role::Worker(link));
        tracing::Instrument::instrument(run, span).await
    }
}

/// Changes a running [`ProcessLauncher`]'s worker counts from another task.
#[derive(Clone, Debug)]
pub struct LauncherHandle {
    names: Vec<String>,
    commands: mpsc::UnboundedSender<Command>,
}

impl LauncherHandle {
    /// Sets how many workers the services named `service` get: new workers start at
    /// once, extra ones (the highest indexes) stop gracefully.
    pub fn set_workers(&self, service: &str, workers: usize) -> Result<()> {
        check_workers(workers)?;
        if !self.names.iter().any(|name| name == service) {
            return Err(no_such_service(service));
        }
        self.commands
            .send(Command::SetWorkers {
                service: service.to_owned(),
                workers,
            })
            .map_err(|_| Error::Launch("the launcher is not running".to_owned()))
    }
}

fn no_such_service(service: &str) -> Error {
    Error::Launch(format!("no service named '{service}'"))
}
