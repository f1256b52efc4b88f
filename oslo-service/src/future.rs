//! The boxed future every async trait of the crate returns, so that the traits stay
//! usable as trait objects (`dyn ServiceBase`, `dyn Sleeper`).

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
