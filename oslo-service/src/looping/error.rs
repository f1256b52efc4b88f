//! What can end a looping call other than its function's value.

use std::fmt::{Debug, Display};
use std::time::Duration;

/// Why a looping call could not start, or what ended it with an error.
///
/// `E` is the error type of the looped function; its errors come back unchanged in
/// [`LoopingCallError::Function`].
///
/// ```
/// use std::time::Duration;
/// use oslo::looping::LoopingCallError;
///
/// let timed_out = LoopingCallError::<std::io::Error>::TimedOut {
///     after: Duration::from_millis(1500),
/// };
/// assert_eq!(timed_out.to_string(), "looping call timed out after 1.50 seconds");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoopingCallError<E> {
    /// `start` was called while the call's function was still looping.
    #[error("a looping call can only run one function at a time")]
    AlreadyRunning,

    /// The loop ran past its timeout (fixed interval with timeout, back-off).
    #[error("looping call timed out after {:.2} seconds", .after.as_secs_f64())]
    TimedOut {
        /// How long the loop had run, or spent failing for a back-off call.
        after: Duration,
    },

    /// A dynamic call's function asked for no particular sleep and no
    /// `periodic_interval_max` was set to fall back on.
    #[error(
        "dynamic interval looping call should supply either an interval or periodic_interval_max"
    )]
    NoInterval,

    /// The function returned an error and `stop_on_exception` was on.
    #[error("{0}")]
    Function(E),

    /// The loop's task panicked or was aborted.
    #[error("looping call task ended abnormally: {0}")]
    TaskFailed(tokio::task::JoinError),

    /// `start` was called outside a tokio runtime.
    #[error("no tokio runtime to run the looping call on")]
    NoRuntime,
}

impl<E> LoopingCallError<E> {
    /// The function's own error, when that is what ended the loop.
    pub fn into_function_error(self) -> Option<E> {
        match self {
            LoopingCallError::Function(err) => Some(err),
            _ => None,
        }
    }
}

impl<E> From<LoopingCallError<E>> for crate::Error
where
    E: Display + Debug + Send + Sync + 'static,
{
    fn from(err: LoopingCallError<E>) -> Self {
        crate::Error::other(err)
    }
}
