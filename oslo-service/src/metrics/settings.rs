//! `[metrics]`, read and checked: whether this process records, and where the
//! endpoint listens.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::config::{Config, ConfigError, InvalidValue, MetricsOptions, Snapshot};

static ENABLED: AtomicBool = AtomicBool::new(false);

/// The longest `worker_timeout`: a scrape should end well before Prometheus gives up.
const MAX_WORKER_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the endpoint listens, and how long it waits for a worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Settings {
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) worker_timeout: Duration,
}

/// Whether this process records metrics: `[metrics] enabled`, as read at its start.
pub(crate) fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Reads `[metrics]` at a process's start: from then on it records, or not. A reload
/// changes neither (the endpoint's socket is bound once, like the HTTP server's).
pub(crate) fn configure(conf: &Config) -> Result<(), ConfigError> {
    let settings = read(&conf.snapshot())?;
    ENABLED.store(settings.is_some(), Ordering::Relaxed);
    Ok(())
}

/// Checks `[metrics]` as a start would, for `--check-config`.
pub(crate) fn check(conf: &Config) -> Result<(), ConfigError> {
    read(&conf.snapshot()).map(drop)
}

/// `None` when metrics are off.
pub(super) fn read(snapshot: &Snapshot) -> Result<Option<Settings>, ConfigError> {
    let options = snapshot.group::<MetricsOptions>()?;
    if !options.enabled {
        return Ok(None);
    }
    let invalid = |option: &str, value: &str, reason: &str| {
        InvalidValue::in_snapshot(snapshot, "metrics", option, value, reason.to_owned())
    };
    if options.host.trim().is_empty() {
        return Err(invalid(
            "host",
            &options.host,
            "an address to listen on is needed",
        ));
    }
    let timeout = options.worker_timeout;
    if timeout.is_zero() || timeout > MAX_WORKER_TIMEOUT {
        return Err(invalid(
            "worker_timeout",
            &humantime::format_duration(timeout).to_string(),
            "must be more than 0 and at most 60s",
        ));
    }
    Ok(Some(Settings {
        host: options.host.clone(),
        port: options.port.0,
        worker_timeout: timeout,
    }))
}
