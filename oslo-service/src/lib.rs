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
//!
//! # Features
//!
//! On by default, each may be left out (`default-features = false`, then the ones the
//! service uses), and its crates are then neither compiled nor linked:
//!
//! - `http`: `wsgi`, the HTTP server, paste pipelines and the health check (hyper);
//! - `tls`: `[ssl]` for the HTTP server and `etcd3+https` for coordination (rustls);
//! - `coordination`: `coordination`, etcd membership and cluster-scoped tasks;
//! - `console`: the debug console (`backdoor_port`, `backdoor_socket`).
//!
//! Off by default:
//!
//! - `grpc` (needs `http`): `wsgi::grpc`, the standard gRPC health service answered from
//!   the process's lifecycle, for tonic services served by the HTTP server (tonic);
//!   a service without gRPC compiles no tonic.
//!
//! A configuration that asks for a wing left out is refused at start with the feature
//! to turn on.
//!
//! # Crates the API exposes
//!
//! Three crates are re-exported, so that a service names the very versions the
//! framework was built with: `oslo::clap` (4, for a program's own command line),
//! `oslo::config::figment` (0.10, for providers of one's own) and
//! `oslo::metrics::prometheus_client` (0.26, for metrics of one's own). Others appear in
//! signatures without a re-export, as the types a service already has: `tokio` 1,
//! `http` 1, `hyper` 1 and `bytes` 1 (stable), `tower-service` 0.3 (what
//! [`wsgi::HttpApp`](crate::wsgi) takes) and, with `grpc`, `tonic` 0.14. Logs go
//! through `tracing` 0.1, which a service uses as it is, without a type of it crossing
//! the API. The ones before 1.0 (figment, prometheus-client, tower-service, tonic) move
//! by minor versions that break: taking a new one is a breaking release of this crate
//! (a minor one, before its own 1.0), never a patch.
#![deny(missing_docs)]
// docs.rs builds with every feature and shows which one each item needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

// Processes, signals and sockets the Linux way: `/proc`, `prctl`, `pidfd`, `SO_PEERCRED`,
// abstract sockets, and a constructor in `.init_array` that takes the signals before
// `main`. Said at once rather than by a hundred failures to resolve.
#[cfg(not(target_os = "linux"))]
compile_error!(
    "oslo-service runs on Linux only: it reads /proc, calls prctl and takes signals before main from .init_array"
);

// The layers, top to bottom (ARCHITECTURE.md): each module imports only from its own
// layer or those below it.

// Entry and the macros' support.
#[doc(hidden)]
#[path = "macro_support.rs"]
pub mod __private;
mod entry;
pub mod testing;

// Launchers, and the debug console they start (its listener with feature `console`).
mod backdoor;
pub mod launcher;

// Services, their periodic tasks, and the HTTP server.
pub mod periodic;
mod service;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod wsgi;

// Coordination, task groups and logging. Without feature `coordination`, a private
// stand-in answers the launchers: no etcd, and a `backend_url` refused at start.
#[cfg(feature = "coordination")]
#[cfg_attr(docsrs, doc(cfg(feature = "coordination")))]
pub mod coordination;
#[cfg(not(feature = "coordination"))]
#[path = "coordination/absent.rs"]
mod coordination;
pub mod log;
pub mod taskgroup;

// Primitives.
pub mod config;
mod error;
mod fd;
mod fdstore;
mod future;
pub mod health;
pub mod looping;
// Without feature `metrics`, a private stand-in records nothing and refuses
// `[metrics] enabled`.
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
#[cfg(not(feature = "metrics"))]
#[path = "metrics/absent.rs"]
mod metrics;
pub mod net;
mod orphans;
#[cfg(feature = "otel")]
mod otel;
#[cfg(not(feature = "otel"))]
#[path = "otel/absent.rs"]
mod otel;
mod pidfile;
mod privileges;
mod proctitle;
pub mod signals;
pub mod systemd;

/// clap, whose `Parser` a program derives for flags and sub-commands of its own:
/// `#[oslo::main(cli = Args)]`.
pub use clap;
pub use config::Config;
pub use error::{BoxError, Error, Result};
pub use future::BoxFuture;
pub use launcher::{
    LauncherHandle, ProcessLauncher, RestartMethod, ServiceLauncher, Services, launch,
};
pub use oslo_service_macros::{main, options, periodic_task, retry, service};
pub use service::{Context, ServiceBase};
pub use taskgroup::TaskGroup;

// The README's example compiles (and the lines around it stay true).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeExample;

/// The names most services use.
pub mod prelude {
    pub use crate::{Config, Context, ServiceBase, TaskGroup, periodic_task};
}
