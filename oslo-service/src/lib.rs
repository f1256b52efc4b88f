//! # oslo-service
//!
//! Long-lived services on tokio with the lifecycle OpenStack's oslo.service made
//! standard: a launcher that starts services, stops them gracefully on SIGTERM within
//! `graceful_shutdown_timeout`, exits at once on SIGINT, reloads the configuration on
//! SIGHUP, and tells systemd where it stands.
//!
//! ```no_run
//! use oslo::prelude::*;
//!
//! #[oslo::service]
//! struct Greeter;
//!
//! #[oslo::service]
//! impl Greeter {
//!     async fn start(&self, cx: &Context) -> oslo::Result<()> {
//!         let greeting: String = cx.conf().get_or("greeter", "greeting", "hello".into())?;
//!         tracing::info!("{greeting}");
//!         Ok(())
//!     }
//!
//!     async fn stop(&self, _cx: &Context) -> oslo::Result<()> {
//!         tracing::info!("goodbye");
//!         Ok(())
//!     }
//! }
//!
//! #[oslo::main]
//! async fn main(conf: oslo::Config) -> oslo::Result<()> {
//!     oslo::launch(conf, Greeter, 1).await
//! }
//! ```
#![deny(missing_docs)]

pub mod config;
mod entry;
mod error;
mod launcher;
pub mod log;
pub mod looping;
pub mod net;
pub mod periodic;
mod service;
mod services;
pub mod signals;
pub mod systemd;
pub mod taskgroup;
pub mod testing;
pub mod workers;

pub use config::Config;
pub use error::{BoxError, Error, Result};
pub use launcher::{LauncherState, ServiceLauncher, launch};
pub use oslo_service_macros::{main, options, periodic_task, retry, service};
pub use service::{BoxFuture, Context, ServiceBase};
pub use services::{RestartMethod, Services};
pub use taskgroup::TaskGroup;
pub use workers::{LauncherHandle, ProcessLauncher};

/// The names most services use.
pub mod prelude {
    pub use crate::{Config, Context, ServiceBase, TaskGroup, periodic_task};
}

/// Items the macros' generated code refers to. Not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::entry::{MainSpec, run_main};

    use crate::periodic::{self, PeriodicTaskRegistry, Timing};
    use crate::{Context, Result};

    /// The `run` hook `#[oslo::service]` generates: drives the declared periodic tasks,
    /// and those added at run time, until the service stops.
    pub async fn run_periodic_tasks<S>(
        service: &S,
        cx: &Context,
        owner: &str,
        timing: Timing,
    ) -> Result<()>
    where
        S: PeriodicTaskRegistry + Sync + 'static,
    {
        let tasks = periodic::scheduler_for(owner, cx, S::periodic_tasks())?;
        periodic::drive(service, cx, tasks, timing, fastrand::Rng::new()).await
    }

    /// Implemented by `#[oslo::service]` on a struct; the impl block's expansion reads
    /// the service's name from it.
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
}
