//! Metrics in Prometheus' format: what the framework knows (workers, reloads, HTTP
//! requests, gRPC calls, periodic tasks, coordination, the process's memory and CPU) and what a
//! program adds, served for a whole host from one endpoint.
//!
//! With `[metrics] enabled = true`, the launcher's top process serves
//! `http://host:port/metrics`. At each scrape it asks every worker for its metrics over
//! the control socket it already holds, and writes one exposition: its own metrics,
//! then each worker's with the labels `service` and `worker`. A worker that does not
//! answer within `worker_timeout` is counted, and the scrape shows what it sent last, so
//! that its series neither vanish nor go down. The counters of a worker that exited are
//! kept in its slot, so that a replaced worker's series goes on from where it was
//! instead of starting again at zero.
//!
//! A program registers its own metrics, the types of [`prometheus_client`], once per
//! process, before or after the launch; each process (each worker) counts its own:
//!
//! ```
//! use std::sync::LazyLock;
//! use oslo::metrics::prometheus_client::metrics::counter::Counter;
//!
//! static RESERVED: LazyLock<Counter> = LazyLock::new(|| {
//!     let counter = Counter::default();
//!     oslo::metrics::register("inventory_reservations", "Items reserved", counter.clone())
//!         .expect("a new metric name");
//!     counter
//! });
//!
//! // In a handler or a periodic task:
//! RESERVED.inc();
//! ```
//!
//! The exposition then holds `inventory_reservations_total{service="api",worker="0"} 1`.

mod connections;
mod endpoint;
mod families;
mod format;
mod grpc;
mod host;
mod model;
mod process;
mod record;
mod registry;
mod settings;

use std::time::Duration;

pub use prometheus_client;
pub use registry::{MetricsError, register, register_with_unit};

pub(crate) use endpoint::serve;
pub(crate) use host::{Part, fold};
pub(crate) use model::{MetricFamily, from_bytes};
pub(crate) use record::*;
pub(crate) use settings::{check, configure, enabled};

use crate::future::BoxFuture;

/// The metrics of a launcher's workers, collected for one scrape.
#[derive(Debug, Default)]
pub(crate) struct Collected {
    /// One part per worker slot, with what each of its workers last sent.
    pub(crate) parts: Vec<Part>,
    /// Workers that did not answer in time, or whose answer did not decode.
    pub(crate) missed: u64,
}

/// Where the endpoint of a launcher with workers finds their metrics.
pub(crate) trait WorkerMetrics: Send + Sync + 'static {
    /// Asks every live worker for its metrics, waiting `timeout` at most.
    fn collect(&self, timeout: Duration) -> BoxFuture<'_, Collected>;
}

/// This process's metrics, as a worker sends them to its parent.
pub(crate) fn encoded() -> Vec<u8> {
    registry::encoded()
}
