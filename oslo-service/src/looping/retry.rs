//! Retrying a fallible async function: oslo.service's `RetryDecorator`.

use std::fmt::{Debug, Display};
use std::sync::Arc;
use std::time::Duration;

use super::sleeper::{Sleeper, TokioSleeper};

/// How often and how patiently [`retry`] tries again. Defaults are oslo.service's:
/// retry forever, sleeping 10 s more after each failure, never more than 60 s.
///
/// ```
/// use std::time::Duration;
/// use oslo::looping::RetryPolicy;
///
/// let policy = RetryPolicy::new()
///     .max_retry_count(5)
///     .inc_sleep_time(Duration::from_secs(1))
///     .max_sleep_time(Duration::from_secs(4));
/// assert_eq!(policy.sleep_before_retry(1), Duration::from_secs(1));
/// assert_eq!(policy.sleep_before_retry(3), Duration::from_secs(3));
/// assert_eq!(policy.sleep_before_retry(5), Duration::from_secs(4));
/// ```
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    max_retry_count: Option<u32>,
    inc_sleep_time: Duration,
    max_sleep_time: Duration,
    sleeper: Arc<dyn Sleeper>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retry_count: None,
            inc_sleep_time: Duration::from_secs(10),
            max_sleep_time: Duration::from_secs(60),
            sleeper: Arc::new(TokioSleeper),
        }
    }
}

impl RetryPolicy {
    /// oslo.service's defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Retries at most `count` times (so the function runs at most `count + 1` times).
    pub fn max_retry_count(mut self, count: u32) -> Self {
        self.max_retry_count = Some(count);
        self
    }

    /// Retries as long as the errors are retryable (Python's `max_retry_count=-1`).
    pub fn retry_forever(mut self) -> Self {
        self.max_retry_count = None;
        self
    }

    /// How much longer each sleep is than the one before.
    pub fn inc_sleep_time(mut self, increment: Duration) -> Self {
        self.inc_sleep_time = increment;
        self
    }

    /// The longest sleep between two tries.
    pub fn max_sleep_time(mut self, max: Duration) -> Self {
        self.max_sleep_time = max;
        self
    }

    /// Takes the sleeps through `sleeper` rather than `tokio::time::sleep`.
    pub fn with_sleeper(mut self, sleeper: impl Sleeper) -> Self {
        self.sleeper = Arc::new(sleeper);
        self
    }

    /// The most retries, `None` for no limit.
    pub fn retry_limit(&self) -> Option<u32> {
        self.max_retry_count
    }

    /// The sleep before the `retry`-th retry (counting from 1): `retry ×
    /// inc_sleep_time`, at most `max_sleep_time`.
    pub fn sleep_before_retry(&self, retry: u32) -> Duration {
        self.inc_sleep_time
            .saturating_mul(retry)
            .min(self.max_sleep_time)
    }
}

/// Runs `function` until it succeeds, retrying the errors `is_retryable` accepts as
/// `policy` allows; any other error, or a retryable one once the retries are used up,
/// is returned at once, unchanged.
///
/// The function is a closure returning a future, called afresh for each try. The future
/// may hold shared references taken from the surroundings (`move || async move {..}`
/// over `&T` captures), so an attribute such as `#[oslo::retry(...)]` can expand to a
/// call of this function around the body of an `async fn` returning a `Result`, and the
/// result stays `Send` when the body is. (An `AsyncFnMut` bound would let the body
/// borrow mutably, but its futures cannot yet be proven `Send` for `tokio::spawn`.)
///
/// ```
/// use std::time::Duration;
/// use oslo::looping::{RetryPolicy, retry};
///
/// #[derive(Debug)]
/// enum FetchError { Busy, NotFound }
/// impl std::fmt::Display for FetchError {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         write!(f, "{self:?}")
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let policy = RetryPolicy::new().max_retry_count(3).inc_sleep_time(Duration::from_secs(1));
/// let mut tries = 0;
/// let fetched = retry(&policy, |err| matches!(err, FetchError::Busy), || {
///     tries += 1;
///     let outcome = if tries < 3 { Err(FetchError::Busy) } else { Ok("page") };
///     async move { outcome }
/// })
/// .await;
/// assert_eq!(fetched.unwrap(), "page");
/// assert_eq!(tries, 3);
/// # }
/// ```
pub async fn retry<T, E, P, F, Fut>(
    policy: &RetryPolicy,
    mut is_retryable: P,
    mut function: F,
) -> Result<T, E>
where
    P: FnMut(&E) -> bool,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Display,
{
    let mut retries: u32 = 0;
    loop {
        if retries > 0 {
            tracing::debug!(retries, "invoking the function again");
        }
        let error = match function().await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        if !is_retryable(&error) {
            return Err(error);
        }
        if policy.max_retry_count.is_some_and(|max| retries >= max) {
            tracing::debug!(
                %error,
                retries,
                "cannot retry upon the error: the retry count reached the max retry count"
            );
            return Err(error);
        }
        retries = retries.saturating_add(1);
        let sleep = policy.sleep_before_retry(retries);
        tracing::debug!(
            %error,
            retries,
            sleep_secs = sleep.as_secs_f64(),
            "retryable error, retrying"
        );
        policy.sleeper.sleep(sleep).await;
    }
}
