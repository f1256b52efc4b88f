//! The phases of a launcher's life, and the steps of a SIGHUP reload and of a stop that
//! both launchers take alike.

use std::time::Duration;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::signals::{Interrupted, SignalLoop};
use crate::systemd;

use super::services::RestartMethod;

/// The phases of a launcher's life; each change is logged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LauncherState {
    /// Services are starting.
    Starting,
    /// Every service started; waiting for signals.
    Running,
    /// A SIGHUP is being applied.
    Reloading,
    /// Services are stopping.
    Stopping,
}

/// What a stop takes beyond `graceful_shutdown_timeout`: killing what is left, exiting.
const STOP_MARGIN: Duration = Duration::from_secs(5);

/// Where a launcher stands: every transition goes through here and is logged.
#[derive(Debug)]
pub(super) struct Phase {
    state: LauncherState,
}

impl Phase {
    pub(super) fn new() -> Self {
        Phase {
            state: LauncherState::Starting,
        }
    }

    pub(super) fn state(&self) -> LauncherState {
        self.state
    }

    pub(super) fn enter(&mut self, state: LauncherState) {
        tracing::debug!(from = ?self.state, to = ?state, "launcher state changed");
        self.state = state;
        crate::health::entered(match state {
            LauncherState::Starting => crate::health::Lifecycle::Starting,
            LauncherState::Running => crate::health::Lifecycle::Running,
            LauncherState::Reloading => crate::health::Lifecycle::Reloading,
            LauncherState::Stopping => crate::health::Lifecycle::Stopping,
        });
        // Started or reloaded, before READY=1: the sockets bound by now go to systemd's
        // store, if it keeps any.
        if state == LauncherState::Running {
            crate::fdstore::store_listeners();
        }
    }

    /// Enters `Stopping` and tells systemd, asking it to wait the `timeout` the stop may
    /// take (and a little more, to kill what is left and exit) whatever its own stop
    /// timeout; with no timeout, systemd's own (`TimeoutStopSec=`) is the limit.
    pub(super) fn begin_stop(&mut self, timeout: Option<Duration>) {
        self.enter(LauncherState::Stopping);
        // New clients are refused from now on; those connected are served or closed.
        crate::net::refuse_new_connections();
        systemd::notify_stopping();
        systemd::notify_status("stopping");
        if let Some(timeout) = timeout {
            systemd::notify_extend_timeout(timeout + STOP_MARGIN);
        }
    }

    /// The first half of a SIGHUP in a daemon: enters `Reloading`, tells systemd, and
    /// re-reads the configuration as `method` says. A configuration that does not load
    /// is refused whole: logged, the launcher goes back to the phase it was in, and
    /// `false` is returned; the services run on with the old one.
    pub(super) fn reread(&mut self, conf: &Config, method: RestartMethod) -> bool {
        // logrotate moves the file away, then sends SIGHUP: whatever becomes of the
        // configuration, the log goes on in a file of the old name.
        crate::log::reopen();
        let mut span = crate::otel::internal(|name| name.push("reload"));
        let previous = self.state;
        self.enter(LauncherState::Reloading);
        systemd::notify_reloading();
        systemd::notify_status("reloading");
        let reread = match method {
            RestartMethod::Reload => conf.reload().map(|changed| (changed.len(), None)),
            RestartMethod::Mutate => conf
                .mutate_unlogged()
                .map(|mutated| (mutated.changed.len(), Some(mutated))),
        };
        match reread {
            Ok((changed, mutated)) => {
                tracing::info!(changed, "configuration reloaded");
                // A mutate keeps every process: a moved address waits for a reload.
                match method {
                    RestartMethod::Reload => crate::net::apply_moves(),
                    RestartMethod::Mutate => crate::net::discard_moves(),
                }
                crate::metrics::reloaded(true, conf.generation());
                if let Some(span) = &mut span {
                    span.number(
                        "oslo.config.changed",
                        i64::try_from(changed).unwrap_or(i64::MAX),
                    );
                    span.number(
                        "oslo.config.generation",
                        i64::try_from(conf.generation()).unwrap_or(i64::MAX),
                    );
                }
                // Levels changed at run time (the debug console's loglevel) last until
                // a reload.
                if let Err(err) = crate::log::reapply_levels(conf) {
                    tracing::warn!(error = %err, "cannot re-apply the configured log levels");
                }
                // A typo added by this edit of the files, or a change a mutate
                // ignores, said once for the host (a worker reloads the files its
                // parent has reported on).
                if !super::started_as_worker() {
                    conf.warn_unknown_options();
                    if let Some(mutated) = &mutated {
                        mutated.warn_ignored();
                    }
                }
                // As oslo.service does after each SIGHUP: the values now in force.
                if conf
                    .group::<crate::config::ServiceOptions>()
                    .is_ok_and(|options| options.log_options)
                {
                    conf.log_options();
                }
                true
            }
            Err(err) => {
                crate::net::discard_moves();
                tracing::error!(error = %err.one_line(), "reload refused, keeping the running configuration");
                crate::metrics::reloaded(false, conf.generation());
                if let Some(span) = &mut span {
                    span.fail("reload refused");
                }
                self.enter(previous);
                false
            }
        }
    }

    /// What systemd's `STATUS=` says once (re)started: `ready`, or why the last reload
    /// was refused (the next accepted one clears it).
    pub(super) fn status(conf: &Config, ready: &str) -> String {
        match conf.last_refused_reload() {
            Some(reason) => format!("reload refused: {reason}"),
            None => ready.to_owned(),
        }
    }
}

/// `graceful_shutdown_delay`: the health check answers 503 from now, every route serves
/// on and the sockets accept, for that long; SIGINT cuts it short.
pub(super) async fn delay_stop(
    signals: &mut SignalLoop,
    delay: Duration,
    timeout: Option<Duration>,
) -> Result<()> {
    tracing::info!(
        delay_seconds = delay.as_secs(),
        "draining before the stop: the health check answers 503, routes serve on"
    );
    crate::service::begin_draining();
    systemd::notify_status("draining");
    if let Some(timeout) = timeout {
        systemd::notify_extend_timeout(delay + timeout + STOP_MARGIN);
    }
    signals
        .guard(tokio::time::sleep(delay))
        .await
        .map_err(|Interrupted| Error::Interrupted)
}
