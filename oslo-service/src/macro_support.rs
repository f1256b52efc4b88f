//! What the macros' generated code calls and users do not: `oslo::__private`. Not part of
//! the public API; it may change in any release. Generated code names only this module
//! and documented public API.

/// The INI reader alone, for the test that holds it against oslo.config's.
pub use crate::config::ini::{Assignment, IniError, parse as parse_ini};
pub use crate::config::spec::option_spec;
pub use crate::config::typed::{FieldErrors, OptionField, read_option, read_serde};
pub use crate::config::variants::serde_variants;
pub use crate::entry::{MainSpec, RuntimeFlavor, RuntimeSpec, run_main, run_main_with_cli};
pub use crate::periodic::driver::{check_task_options, run_declared as run_periodic_tasks};

use crate::periodic::Timing;

/// Takes over SIGTERM, SIGINT and SIGHUP before `main` (`#[oslo::main]` registers it
/// as a constructor of the program), so that one arriving while the Rust runtime starts
/// waits for the launcher too. `run_main` does it again and reports a failure.
pub extern "C" fn capture_early_signals() {
    let _ = crate::signals::capture_early(crate::launcher::started_as_worker());
}

/// Implemented by `#[oslo::service]` on a struct; the impl block's expansion reads the
/// service's name from it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not marked as a service",
    label = "`#[oslo::service]` on this impl block needs the attribute on the struct too",
    note = "add `#[oslo::service]` to the definition of `{Self}`"
)]
pub trait ServiceStruct {
    /// The service's name.
    const NAME: &'static str;
    /// The struct's name, which prefixes its periodic tasks' names in logs.
    const TYPE_NAME: &'static str;
    /// `periodic_interval_max` and `periodic_fuzzy_delay`.
    const PERIODIC_TIMING: Timing = Timing::DEFAULT;
}
