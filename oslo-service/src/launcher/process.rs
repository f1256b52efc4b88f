//! [`ProcessLauncher`]: each service in worker processes of its own. In the parent it
//! hands over to the supervisor; in a worker it runs that worker's service with the
//! in-process launcher.

use std::fmt;
use std::ops::RangeInclusive;
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

    /// Adds a service, to run in `workers` processes of its own (at least 1). SIGTTIN
    /// and SIGTTOU change its count between 1 and any number.
    pub fn launch_service<S: ServiceBase>(self, service: S, workers: usize) -> Self {
        self.launch_service_bounded(service, workers, 1..=usize::MAX)
    }

    /// Adds a service whose worker count stays within `bounds`: `1..=1` for a service
    /// that must run exactly once (a flusher, a scheduler). [`ProcessLauncher::run`]
    /// refuses a `workers` outside them; `set_workers` refuses one too; SIGTTIN and
    /// SIGTTOU leave the service alone at its bounds.
    ///
    /// The bounds are given here, next to the count they limit, rather than by the
    /// service itself: a service written with `#[oslo::service]` needs nothing more.
    pub fn launch_service_bounded<S: ServiceBase>(
        mut self,
        service: S,
        workers: usize,
        bounds: RangeInclusive<usize>,
    ) -> Self {
        self.launched.push(Launched {
            service: Arc::new(service),
            workers,
            bounds,
        });
        self
    }

    /// Sets how many workers the services named `service` get (within their bounds).
    pub fn set_workers(&mut self, service: &str, workers: usize) -> Result<()> {
        check_workers(workers)?;
        let mut found = false;
        for launched in self.launched.iter().filter(|l| l.service.name() == service) {
            check_bounds(service, workers, &launched.bounds)?;
            found = true;
        }
        if !found {
            return Err(no_such_service(service));
        }
        for launched in self
            .launched
            .iter_mut()
            .filter(|l| l.service.name() == service)
        {
            launched.workers = workers;
        }
        Ok(())
    }

    /// A handle that changes worker counts while [`ProcessLauncher::run`] runs.
    pub fn handle(&self) -> LauncherHandle {
        LauncherHandle {
            services: self
                .launched
                .iter()
                .map(|l| (l.service.name().to_owned(), l.bounds.clone()))
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
            check_bounds(launched.service.name(), launched.workers, &launched.bounds)?;
        }
        if let Some(marker) = marker()? {
            return self.run_worker(marker).await;
        }
        if self.launched.is_empty() {
            return Err(Error::Launch("no service to launch".to_owned()));
        }
        // Where oslo.service's process launcher sets it: before the first worker.
        crate::proctitle::set_master();
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
    /// Each service's name and worker bounds.
    services: Vec<(String, RangeInclusive<usize>)>,
    commands: mpsc::UnboundedSender<Command>,
}

impl LauncherHandle {
    /// Sets how many workers the services named `service` get: new workers start at
    /// once, extra ones (the highest indexes) stop gracefully. A count outside the
    /// service's bounds is refused.
    pub fn set_workers(&self, service: &str, workers: usize) -> Result<()> {
        check_workers(workers)?;
        let mut found = false;
        for (_, bounds) in self.services.iter().filter(|(name, _)| name == service) {
            check_bounds(service, workers, bounds)?;
            found = true;
        }
        if !found {
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

/// Whether `service` may run `workers` workers: its bounds are sound (not empty, from
/// 1) and hold the count.
fn check_bounds(service: &str, workers: usize, bounds: &RangeInclusive<usize>) -> Result<()> {
    if bounds.is_empty() || *bounds.start() == 0 {
        return Err(Error::Launch(format!(
            "service '{service}' has worker bounds {}..={}: they must hold 1 or more",
            bounds.start(),
            bounds.end()
        )));
    }
    if !bounds.contains(&workers) {
        return Err(Error::Launch(format!(
            "service '{service}' cannot run {workers} workers: it runs {}",
            describe_bounds(bounds)
        )));
    }
    Ok(())
}

/// `exactly 1`, `at least 2`, `1 to 4` workers.
fn describe_bounds(bounds: &RangeInclusive<usize>) -> String {
    match (*bounds.start(), *bounds.end()) {
        (min, max) if min == max => format!("exactly {min}"),
        (min, usize::MAX) => format!("at least {min}"),
        (min, max) => format!("{min} to {max}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigSources;

    struct Named(&'static str);

    impl ServiceBase for Named {
        fn name(&self) -> &str {
            self.0
        }
    }

    fn launcher() -> ProcessLauncher {
        let conf = Config::load(ConfigSources::default()).unwrap();
        ProcessLauncher::new(conf)
            .launch_service(Named("api"), 2)
            .launch_service_bounded(Named("flusher"), 1, 1..=1)
            .launch_service_bounded(Named("conductor"), 2, 2..=4)
    }

    #[test]
    fn a_count_outside_the_bounds_is_an_error_naming_service_count_and_bounds() {
        let mut launcher = launcher();
        let handle = launcher.handle();
        for (service, workers, message) in [
            (
                "flusher",
                2,
                "service 'flusher' cannot run 2 workers: it runs exactly 1",
            ),
            (
                "conductor",
                5,
                "service 'conductor' cannot run 5 workers: it runs 2 to 4",
            ),
            (
                "conductor",
                1,
                "service 'conductor' cannot run 1 workers: it runs 2 to 4",
            ),
        ] {
            let err = launcher.set_workers(service, workers).unwrap_err();
            assert_eq!(err.to_string(), message);
            let err = handle.set_workers(service, workers).unwrap_err();
            assert_eq!(err.to_string(), message);
        }
        // Within the bounds, and any count for an unbounded service.
        launcher.set_workers("conductor", 4).unwrap();
        launcher.set_workers("api", 64).unwrap();
        handle.set_workers("flusher", 1).unwrap_or_else(|err| {
            // Not running: only that is refused.
            assert_eq!(err.to_string(), "the launcher is not running");
        });
    }

    #[test]
    fn a_count_outside_the_bounds_at_launch_is_an_error() {
        let launched = [
            (3, 1..=2, "service 's' cannot run 3 workers: it runs 1 to 2"),
            (
                1,
                2..=usize::MAX,
                "service 's' cannot run 1 workers: it runs at least 2",
            ),
            (
                1,
                // Empty: a user's `max..=min`.
                RangeInclusive::new(2, 1),
                "service 's' has worker bounds 2..=1: they must hold 1 or more",
            ),
            (
                1,
                0..=1,
                "service 's' has worker bounds 0..=1: they must hold 1 or more",
            ),
        ];
        for (workers, bounds, message) in launched {
            let err = check_bounds("s", workers, &bounds).unwrap_err();
            assert_eq!(err.to_string(), message);
        }
        check_bounds("s", 1, &(1..=1)).unwrap();
        check_bounds("s", 7, &(1..=usize::MAX)).unwrap();
    }
}
