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
pub mod net;
pub mod periodic;
mod service;
mod services;
pub mod signals;
pub mod systemd;
pub mod workers;

pub use config::Config;
pub use error::{BoxError, Error, Result};
pub use launcher::{LauncherState, ServiceLauncher, launch};
pub use oslo_service_macros::{main, service};
pub use service::{BoxFuture, Context, ServiceBase};
pub use services::{RestartMethod, Services};
pub use workers::{LauncherHandle, ProcessLauncher};

/// The names most services use.
pub mod prelude {
    pub use crate::{Config, Context, ServiceBase};
}

/// Items the macros' generated code refers to. Not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::entry::{MainSpec, run_main};

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
    }
}
