//! What a periodic task is: its name, spacing and switches, and the function it runs.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::configured::OptionRef;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::future::BoxFuture;
use crate::service::Context;

/// The spacing used when a task asks for 0: oslo.service's `DEFAULT_INTERVAL`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

/// How often a task runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spacing {
    /// Every [`DEFAULT_INTERVAL`]: what a spacing of 0 asks for.
    Default,
    /// Every so often.
    Every(Duration),
    /// A negative spacing: the task is disabled.
    Negative,
}

impl Spacing {
    /// A spacing in whole seconds, as oslo.service takes it: 0 is the default interval
    /// and a negative number disables the task.
    pub fn from_secs(seconds: i64) -> Self {
        match seconds {
            0 => Spacing::Default,
            s if s < 0 => Spacing::Negative,
            s => Spacing::Every(Duration::from_secs(s.unsigned_abs())),
        }
    }

    /// The interval between two runs, or `None` for a disabled task.
    pub fn interval(self) -> Option<Duration> {
        match self {
            Spacing::Default => Some(DEFAULT_INTERVAL),
            Spacing::Every(interval) if interval.is_zero() => Some(DEFAULT_INTERVAL),
            Spacing::Every(interval) => Some(interval),
            Spacing::Negative => None,
        }
    }
}

/// The arguments of `#[periodic_task(...)]`.
///
/// ```
/// use std::time::Duration;
/// use oslo::periodic::{PeriodicTaskSpec, Spacing};
///
/// let spec = PeriodicTaskSpec::new("poll")
///     .spacing(Spacing::Every(Duration::from_secs(10)))
///     .run_immediately(true);
/// assert_eq!(spec.name(), "poll");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeriodicTaskSpec {
    name: String,
    spacing: Spacing,
    run_immediately: bool,
    external_process_ok: bool,
    enabled: bool,
    scope: Scope,
    timeout: Option<Duration>,
    spacing_from: Option<OptionRef<Duration>>,
    enabled_from: Option<OptionRef<bool>>,
}

/// Where a task runs: on every host, or on one host of the cluster per period.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scope {
    /// In every process that runs the service (oslo.service's behaviour).
    #[default]
    Local,
    /// Once per period in the whole cluster, on the host that claims the period in
    /// etcd (see `oslo::coordination`); the others skip it. Without
    /// `[coordination] backend_url` it runs locally, with a warning at start.
    Cluster,
}

impl PeriodicTaskSpec {
    /// A task named `name` that runs every 60 s, first about 60 s after the start.
    pub fn new(name: impl Into<String>) -> Self {
        PeriodicTaskSpec {
            name: name.into(),
            spacing: Spacing::Default,
            run_immediately: false,
            external_process_ok: false,
            enabled: true,
            scope: Scope::Local,
            timeout: None,
            spacing_from: None,
            enabled_from: None,
        }
    }

    /// How often it runs.
    pub fn spacing(mut self, spacing: Spacing) -> Self {
        self.spacing = spacing;
        self
    }

    /// Takes the spacing from an option instead, read when the task is scheduled and
    /// after every reload: what `#[periodic_task(spacing = Opts::interval)]` asks for.
    /// A value of 0 is the default interval, as `spacing = 0` is.
    pub fn spacing_from(mut self, option: OptionRef<Duration>) -> Self {
        self.spacing_from = Some(option);
        self
    }

    /// The option the spacing comes from, if it comes from one.
    pub fn spacing_source(&self) -> Option<&OptionRef<Duration>> {
        self.spacing_from.as_ref()
    }

    /// Switches the task on and off with a boolean option, read when the task is
    /// scheduled and after every reload: what `#[periodic_task(enabled = Opts::switch)]`
    /// asks for.
    pub fn enabled_from(mut self, option: OptionRef<bool>) -> Self {
        self.enabled_from = Some(option);
        self
    }

    /// The option that switches the task on and off, if one does.
    pub fn enabled_source(&self) -> Option<&OptionRef<bool>> {
        self.enabled_from.as_ref()
    }

    /// Whether an option decides its spacing or whether it runs.
    pub(crate) fn is_configured(&self) -> bool {
        self.spacing_from.is_some() || self.enabled_from.is_some()
    }

    /// Whether the first run is at the first tick instead of one spacing after start.
    pub fn run_immediately(mut self, run_immediately: bool) -> Self {
        self.run_immediately = run_immediately;
        self
    }

    /// Whether the task may run in a separate process; it then runs here only while
    /// `run_external_periodic_tasks` is true.
    pub fn external_process_ok(mut self, external_process_ok: bool) -> Self {
        self.external_process_ok = external_process_ok;
        self
    }

    /// Where the task runs: [`Scope::Cluster`] for once per period in the cluster.
    pub fn scope(mut self, scope: Scope) -> Self {
        self.scope = scope;
        self
    }

    /// Where it runs.
    pub fn scope_value(&self) -> Scope {
        self.scope
    }

    /// Cancels a run that takes longer than `limit`: it counts as a failure (in the
    /// stats and the console), and the task runs again at its next period.
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = Some(limit);
        self
    }

    /// Its timeout, if it has one.
    pub fn timeout_value(&self) -> Option<Duration> {
        self.timeout
    }

    /// Whether the task runs at all.
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// The task's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its spacing as given.
    pub fn spacing_value(&self) -> Spacing {
        self.spacing
    }

    /// Whether it runs at the first tick.
    pub fn runs_immediately(&self) -> bool {
        self.run_immediately
    }

    /// Whether it may run in another process.
    pub fn is_external_process_ok(&self) -> bool {
        self.external_process_ok
    }

    /// Whether it is enabled.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// What the configuration in force says of the task: the interval between its
    /// runs, or `None` while its `enabled` option switches it off. A task that takes
    /// nothing from options gets its declared spacing.
    pub(crate) fn interval_in(&self, conf: &Config) -> Result<Option<Duration>> {
        if let Some(switch) = &self.enabled_from
            && !switch
                .read(conf)
                .map_err(|err| self.unreadable("is switched on and off by", switch, err))?
        {
            return Ok(None);
        }
        let spacing = match &self.spacing_from {
            Some(option) => Spacing::Every(
                option
                    .read(conf)
                    .map_err(|err| self.unreadable("takes its spacing from", option, err))?,
            ),
            None => self.spacing,
        };
        Ok(spacing.interval())
    }

    fn unreadable<T>(&self, what: &str, option: &OptionRef<T>, err: Error) -> Error {
        Error::msg(format!(
            "periodic task {} {what} {option}, which cannot be read: {err}",
            self.name
        ))
    }

    /// Why the task does not run, if it does not (the `reason` of the log line
    /// `skipping periodic task`): a negative spacing, `enabled = false`, or
    /// `external_process_ok` while external tasks do not run here. A task switched
    /// off by its `enabled` option is not left out: it waits to be switched on.
    pub fn skip_reason(&self, run_external: bool) -> Option<&'static str> {
        if self.spacing_from.is_none() && self.spacing.interval().is_none() {
            Some("its interval is negative")
        } else if !self.enabled {
            Some("it is disabled")
        } else if self.external_process_ok && !run_external {
            Some("run_external_periodic_tasks is false")
        } else {
            None
        }
    }
}

/// The function a task runs, given the service and its context.
pub type TaskFn<S> =
    Arc<dyn for<'a> Fn(&'a S, &'a Context) -> BoxFuture<'a, Result<()>> + Send + Sync>;

/// A periodic task of service type `S`: its spec and its function.
pub struct PeriodicTask<S: ?Sized> {
    pub(crate) spec: PeriodicTaskSpec,
    pub(crate) run: TaskFn<S>,
}

impl<S: ?Sized> PeriodicTask<S> {
    /// A task running `run` as `spec` says.
    ///
    /// ```
    /// use oslo::periodic::{PeriodicTask, PeriodicTaskSpec};
    ///
    /// struct Poller;
    /// let task = PeriodicTask::new(PeriodicTaskSpec::new("poll"), |_: &Poller, _cx| {
    ///     Box::pin(async { Ok(()) })
    /// });
    /// assert_eq!(task.spec().name(), "poll");
    /// ```
    pub fn new<F>(spec: PeriodicTaskSpec, run: F) -> Self
    where
        F: for<'a> Fn(&'a S, &'a Context) -> BoxFuture<'a, Result<()>> + Send + Sync + 'static,
    {
        PeriodicTask {
            spec,
            run: Arc::new(run),
        }
    }

    /// Its spec.
    pub fn spec(&self) -> &PeriodicTaskSpec {
        &self.spec
    }
}

impl<S: ?Sized> Clone for PeriodicTask<S> {
    fn clone(&self) -> Self {
        PeriodicTask {
            spec: self.spec.clone(),
            run: Arc::clone(&self.run),
        }
    }
}

impl<S: ?Sized> fmt::Debug for PeriodicTask<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeriodicTask")
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}
