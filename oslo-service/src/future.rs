//! The boxed future every async trait of the crate returns, so that the traits stay
//! usable as trait objects (`dyn ServiceBase`, `dyn Sleeper`), and the one timer that
//! may not be set.

use std::future::Future;
use std::pin::Pin;

/// A boxed future that can move between threads: what [`ServiceBase`](crate::ServiceBase)
/// hooks, periodic tasks and [`Sleeper`](crate::looping::Sleeper)s return.
///
/// ```
/// use oslo::BoxFuture;
///
/// fn answer<'a>() -> BoxFuture<'a, u32> {
///     Box::pin(async { 42 })
/// }
/// ```
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A spawned task that ends when this is dropped: what owns a server's accept loop (the
/// metrics endpoint, the health probes) stops it by going away.
#[derive(Debug)]
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Sleeps until `deadline`, or forever when there is none: a `select!` arm for a timer
/// that may not be set.
pub(crate) async fn sleep_until<T: Into<tokio::time::Instant>>(deadline: Option<T>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
