//! The one rule that leaves a periodic task out: a negative spacing, `enabled = false`,
//! or `external_process_ok` while `run_external_periodic_tasks` is false. Every way a
//! task is added (declared, added by hand to a scheduler, added at run time) goes
//! through [`admit`], with the option read by [`run_external_tasks`].

use super::spec::PeriodicTaskSpec;
use crate::config::{Config, PeriodicTaskOptions};
use crate::error::Result;

/// The option `run_external_periodic_tasks` as it is now. A value that does not load is
/// an error, never a silent default.
pub(crate) fn run_external_tasks(conf: &Config) -> Result<bool> {
    Ok(conf
        .group::<PeriodicTaskOptions>()?
        .run_external_periodic_tasks)
}

/// Whether the task runs here; when it does not, logs why.
pub(crate) fn admit(spec: &PeriodicTaskSpec, run_external: bool) -> bool {
    match spec.skip_reason(run_external) {
        None => true,
        Some(reason) => {
            tracing::info!(task = spec.name(), reason, "skipping periodic task");
            false
        }
    }
}
