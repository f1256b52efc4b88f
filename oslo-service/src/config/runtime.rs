//! The runtime's own options in [DEFAULT], read from a snapshot and checked together, so
//! that a bad value stops a start or a reload before anything else happens.

use std::time::Duration;

use super::{ConfigError, DEFAULT_GROUP, Snapshot};

/// The options the launcher and the logging set-up read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RuntimeOptions {
    /// `graceful_shutdown_timeout` (seconds, default 60); `None` for 0, which waits
    /// forever.
    pub graceful_shutdown_timeout: Option<Duration>,
    /// `debug` (default false): log at DEBUG instead of INFO.
    pub debug: bool,
}

/// Options whose new value a `mutate` reload applies; oslo.log marks `debug` mutable.
const MUTABLE: &[(&str, &str)] = &[(DEFAULT_GROUP, "debug")];

/// The runtime's options; a `mutate` reload leaves these at their start-up values.
const IMMUTABLE: &[(&str, &str)] = &[(DEFAULT_GROUP, "graceful_shutdown_timeout")];

impl RuntimeOptions {
    pub fn read(snapshot: &Snapshot) -> Result<Self, ConfigError> {
        let timeout: u64 = snapshot.get_or(DEFAULT_GROUP, "graceful_shutdown_timeout", 60)?;
        Ok(RuntimeOptions {
            graceful_shutdown_timeout: (timeout > 0).then(|| Duration::from_secs(timeout)),
            debug: snapshot.get_or(DEFAULT_GROUP, "debug", false)?,
        })
    }

    /// Options that are not the runtime's own are the service's; until they are
    /// declared with their mutability, a `mutate` reload applies them.
    pub fn is_mutable(group: &str, option: &str) -> bool {
        let key = (group, option);
        MUTABLE.contains(&key) || !IMMUTABLE.contains(&key)
    }
}
