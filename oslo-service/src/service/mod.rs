//! The lifecycle every service implements ([`ServiceBase`]), and the [`Context`] it runs
//! in. The launchers call the hooks; periodic tasks and the task group live in the
//! context.

mod attachments;
mod context;

pub use context::Context;

/// Set when a stop with `graceful_shutdown_delay` begins: the process stops accepting
/// once the delay is over, and the health check answers 503 from now on.
static DRAINING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Set once every service of the process has started and the launcher has said so
/// (`READY=1`, or the worker's report to its parent): the gRPC health service answers
/// SERVING from then on.
static READY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Woken when [`READY`] or [`DRAINING`] changes, for what watches them (a gRPC health
/// watch).
static LIFECYCLE_CHANGED: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// The stop of this process (or of its host, in a worker) is coming: see [`DRAINING`].
pub(crate) fn begin_draining() {
    DRAINING.store(true, std::sync::atomic::Ordering::SeqCst);
    LIFECYCLE_CHANGED.notify_waiters();
}

/// Every service of the process is up: see [`READY`].
pub(crate) fn mark_ready() {
    READY.store(true, std::sync::atomic::Ordering::SeqCst);
    LIFECYCLE_CHANGED.notify_waiters();
}

/// Whether the launcher has reported the process ready.
#[cfg(feature = "grpc")]
pub(crate) fn is_ready() -> bool {
    READY.load(std::sync::atomic::Ordering::SeqCst)
}

/// Resolves at the next change of [`READY`] or [`DRAINING`] after the returned future
/// is first polled or enabled.
#[cfg(feature = "grpc")]
pub(crate) fn lifecycle_changed() -> tokio::sync::futures::Notified<'static> {
    LIFECYCLE_CHANGED.notified()
}

/// Requests the process's HTTP servers began to serve.
static REQUESTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// `max_requests` (with its jitter) for this process; 0 for none.
static REQUEST_LIMIT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Woken when [`REQUESTS`] reaches [`REQUEST_LIMIT`].
static LIMIT_REACHED: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// One more request is being served.
#[cfg(feature = "http")]
pub(crate) fn count_request() {
    use std::sync::atomic::Ordering;
    let served = REQUESTS.fetch_add(1, Ordering::Relaxed) + 1;
    if served == REQUEST_LIMIT.load(Ordering::Relaxed) {
        LIMIT_REACHED.notify_one();
    }
}

/// Sets how many requests this process serves before it asks to be replaced.
pub(crate) fn set_request_limit(limit: u64) {
    REQUEST_LIMIT.store(limit, std::sync::atomic::Ordering::Relaxed);
}

/// Resolves once the process has served its request limit (never without one).
pub(crate) async fn request_limit_reached() {
    use std::sync::atomic::Ordering;
    let limit = REQUEST_LIMIT.load(Ordering::Relaxed);
    if limit == 0 {
        return std::future::pending().await;
    }
    if REQUESTS.load(Ordering::Relaxed) >= limit {
        return;
    }
    LIMIT_REACHED.notified().await;
}

/// Whether a stop with `graceful_shutdown_delay` has begun (the health checks ask).
#[cfg(feature = "http")]
pub(crate) fn is_draining() -> bool {
    DRAINING.load(std::sync::atomic::Ordering::SeqCst)
}

use crate::error::Result;
use crate::future::BoxFuture;

/// The lifecycle of a service: oslo.service's `ServiceBase`.
///
/// Most services do not implement it by hand: `#[oslo::service]` on the struct and on its
/// impl block generates it from optional `async fn start/stop/reset` hooks. Written by
/// hand it looks like this:
///
/// ```
/// use oslo::{BoxFuture, Context, ServiceBase};
///
/// struct Ticker;
///
/// impl ServiceBase for Ticker {
///     fn name(&self) -> &str {
///         "ticker"
///     }
///
///     fn start<'a>(&'a self, cx: &'a Context) -> BoxFuture<'a, oslo::Result<()>> {
///         Box::pin(async move {
///             let stopped = cx.shutdown_token();
///             cx.spawn(async move { stopped.cancelled().await });
///             Ok(())
///         })
///     }
/// }
/// ```
///
/// The launcher calls `start` once, `stop` then `wait` on shutdown, and `reset` after a
/// SIGHUP reloaded the configuration.
pub trait ServiceBase: Send + Sync + 'static {
    /// The name used in log lines and errors.
    fn name(&self) -> &str;

    /// Starts the service. Long-running work belongs in tasks started with
    /// [`Context::spawn`], so that `start` returns once the service is up.
    fn start<'a>(&'a self, cx: &'a Context) -> BoxFuture<'a, Result<()>> {
        let _ = cx;
        Box::pin(async { Ok(()) })
    }

    /// The service's own loop, run in a task of its own once every service has started,
    /// until the service is asked to stop; [`ServiceBase::wait`] waits for it. The
    /// default returns at once. `#[oslo::service]` drives the periodic tasks here.
    fn run<'a>(&'a self, cx: &'a Context) -> BoxFuture<'a, Result<()>> {
        let _ = cx;
        Box::pin(async { Ok(()) })
    }

    /// Stops the service. The context's shutdown token is already cancelled when this
    /// is called; the default does nothing more.
    fn stop<'a>(&'a self, cx: &'a Context) -> BoxFuture<'a, Result<()>> {
        let _ = cx;
        Box::pin(async { Ok(()) })
    }

    /// Waits until the service has stopped: by default, until its shutdown token is
    /// cancelled and every task started with [`Context::spawn`] has finished.
    fn wait<'a>(&'a self, cx: &'a Context) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            cx.stopped().await;
            cx.wait_tasks().await;
            Ok(())
        })
    }

    /// Called after a SIGHUP reloaded the configuration; re-apply what depends on it
    /// (log levels, for instance). The default does nothing.
    fn reset<'a>(&'a self, cx: &'a Context) -> BoxFuture<'a, Result<()>> {
        let _ = cx;
        Box::pin(async { Ok(()) })
    }
}
