//! Where a [`ServiceLauncher`](super::ServiceLauncher) runs: on its own, or as one
//! worker of a parent; what each role tells, and whom, when the services are up or
//! have stopped, and the runtime options as each role applies them.

use std::time::Duration;

use super::phase::Phase;
use super::upgrade;
use super::worker::ParentLink;
use crate::config::{Config, RuntimeOptions};
use crate::error::Result;
use crate::systemd;

/// How much longer than its parent a worker waits for its own services to stop.
const WORKER_TIMEOUT_MARGIN: Duration = Duration::from_secs(2);

/// Where a [`ServiceLauncher`] runs: on its own, or as one worker of a parent.
#[derive(Debug)]
pub(super) enum Role {
    /// The process's only launcher: notifies systemd, applies the daemon rule.
    Standalone,
    /// A worker process: reports to its parent, ends when the parent is gone.
    Worker(ParentLink),
}

impl Role {
    pub(super) fn is_worker(&self) -> bool {
        matches!(self, Role::Worker(_))
    }

    pub(super) fn orphaned(&self) -> bool {
        match self {
            Role::Standalone => false,
            Role::Worker(link) => link.orphaned(),
        }
    }

    /// Every service has stopped, and the process is about to exit: a worker sends its
    /// parent its last metrics.
    pub(super) async fn stopped(&self) {
        if let Role::Worker(link) = self {
            link.send_last_metrics().await;
        }
    }

    /// Every service is up (again): tell systemd, or the parent.
    pub(super) fn ready(&self, conf: &Config) {
        crate::service::mark_ready();
        match self {
            Role::Standalone => {
                // Its services serve where a reload or an upgrade moved them.
                crate::net::close_retired();
                // The successor of an upgrade takes over from its predecessor here.
                let status = match upgrade::announce_ready() {
                    true => "running (upgraded)",
                    false => "running",
                };
                systemd::notify_ready_with_status(&Phase::status(conf, status));
            }
            Role::Worker(link) => link.report_ready(),
        }
    }
}

/// The runtime's options as this process applies them. The parent of a worker enforces
/// `graceful_shutdown_timeout` and kills a worker that overstays it; the worker's own,
/// a little later, only matters when someone else sent SIGTERM.
pub(super) fn runtime_options(conf: &Config, role: &Role) -> Result<RuntimeOptions> {
    let mut options = RuntimeOptions::read(&conf.snapshot())?;
    if role.is_worker() {
        options.graceful_shutdown_timeout = options
            .graceful_shutdown_timeout
            .map(|timeout| timeout + WORKER_TIMEOUT_MARGIN);
    }
    Ok(options)
}
