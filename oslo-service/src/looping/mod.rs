//! Functions run over and over in their own task: oslo.service's looping calls, and
//! retries.
//!
//! A [`LoopingCall`] wraps an async closure; [`LoopingCall::start`] runs it under one of
//! four pacings, which carry the arguments of the Python `start()`:
//!
//! | oslo.service                           | here                                   | the function continues with |
//! |----------------------------------------|----------------------------------------|-----------------------------|
//! | `FixedIntervalLoopingCall`             | [`FixedInterval`]                      | `()`                        |
//! | `FixedIntervalWithTimeoutLoopingCall`  | [`FixedIntervalWithTimeout`]           | `()`                        |
//! | `DynamicLoopingCall`                   | [`Dynamic`]                            | `Option<Duration>` to sleep |
//! | `BackOffLoopingCall`                   | [`BackOff`]                            | `bool`, whether it succeeded|
//! | `RetryDecorator`                       | [`retry`] with a [`RetryPolicy`]       | (not a loop: returns `Result`)|
//!
//! The function returns `Result<ControlFlow<T, C>, E>`: `ControlFlow::Continue(c)` for
//! another run, `ControlFlow::Break(value)` to end the loop with `value` (Python's
//! `raise LoopingCallDone(value)`), or an error, which ends the loop unless the pacing
//! says `stop_on_exception(false)`, in which case it is logged and the loop goes on.
//! [`LoopingCallHandle::wait`] gives `Ok(Some(value))`, `Ok(None)` after a stop, or a
//! [`LoopingCallError`].
//!
//! Pauses are taken through a [`Sleeper`], so tests can record them
//! ([`crate::testing::SleepRecorder`]); the back-off's randomness comes from an
//! injectable [`RandomSource`].
//!
//! ```
//! use std::ops::ControlFlow;
//! use std::time::Duration;
//! use oslo::looping::{Dynamic, LoopingCall};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> oslo::Result<()> {
//! let call = LoopingCall::new(|| async {
//!     // Ask to run again in 5 s; the cap below shortens nothing here.
//!     Ok::<_, oslo::Error>(ControlFlow::<(), _>::Continue(Some(Duration::from_secs(5))))
//! });
//! let handle = call.start(Dynamic::new().periodic_interval_max(Duration::from_secs(60)))?;
//! tokio::time::sleep(Duration::from_secs(12)).await;
//! handle.stop();
//! assert_eq!(handle.wait().await?, None);
//! # Ok(())
//! # }
//! ```

mod backoff;
mod call;
mod dynamic;
mod error;
mod fixed;
mod fixed_timeout;
mod jitter;
mod retry;
mod sleeper;

pub use backoff::BackOff;
pub use call::{LoopResult, LoopingCall, LoopingCallHandle, Pacing, Stopper};
pub use dynamic::Dynamic;
pub use error::LoopingCallError;
pub use fixed::FixedInterval;
pub use fixed_timeout::FixedIntervalWithTimeout;
pub use jitter::{RandomSource, SplitMix64};
pub use retry::{RetryPolicy, retry};
pub use sleeper::{Sleeper, TokioSleeper};
