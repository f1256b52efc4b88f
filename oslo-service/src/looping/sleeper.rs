//! How looping calls and retries wait between runs.
//!
//! Every pause goes through a [`Sleeper`] so that a test can swap in one that records
//! the durations asked for (see [`crate::testing::SleepRecorder`]).

use std::fmt::Debug;
use std::time::Duration;

use crate::future::BoxFuture;

/// Waits for a duration. Looping calls and [`retry`](super::retry) take their pauses
/// through one, so tests can observe every requested sleep.
///
/// ```
/// use std::time::Duration;
/// use oslo::BoxFuture;
/// use oslo::looping::Sleeper;
///
/// /// Sleeps half as long as asked: a sleeper for impatient demos.
/// #[derive(Debug)]
/// struct Hurried;
///
/// impl Sleeper for Hurried {
///     fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
///         Box::pin(tokio::time::sleep(duration / 2))
///     }
/// }
/// ```
pub trait Sleeper: Debug + Send + Sync + 'static {
    /// Completes after `duration`. Dropping the future must abandon the sleep, because
    /// a stopped looping call drops it.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;
}

/// The default [`Sleeper`]: `tokio::time::sleep`, which follows tokio's paused clock in
/// tests.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioSleeper;

impl Sleeper for TokioSleeper {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(duration))
    }
}
