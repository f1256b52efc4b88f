//! `#[oslo::retry]` on methods and free functions, on tokio's paused clock.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug, PartialEq)]
enum FetchError {
    Busy,
    Gone,
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

fn is_busy(error: &FetchError) -> bool {
    *error == FetchError::Busy
}

/// Busy for its first `busy_for` calls, then answers, or is gone for good.
struct Upstream {
    calls: AtomicU32,
    busy_for: u32,
    gone: bool,
}

impl Upstream {
    fn new(busy_for: u32, gone: bool) -> Self {
        Upstream {
            calls: AtomicU32::new(0),
            busy_for,
            gone,
        }
    }

    #[oslo::retry(max_retry_count = 3, inc_sleep_time = "1s", max_sleep_time = "2s", when = is_busy)]
    async fn fetch(&self, key: &str) -> Result<String, FetchError> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if call <= self.busy_for {
            Err(FetchError::Busy)
        } else if self.gone {
            Err(FetchError::Gone)
        } else {
            Ok(format!("{key} after {call} calls"))
        }
    }
}

#[tokio::test(start_paused = true)]
async fn retries_retryable_errors_with_growing_capped_sleeps() {
    let upstream = Upstream::new(3, false);
    let start = Instant::now();
    assert_eq!(upstream.fetch("page").await.unwrap(), "page after 4 calls");
    // Sleeps of 1 s, then 2 s, then 2 s (capped by max_sleep_time).
    assert_eq!(start.elapsed(), Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn gives_up_after_max_retry_count() {
    let upstream = Upstream::new(10, false);
    assert_eq!(upstream.fetch("page").await, Err(FetchError::Busy));
    assert_eq!(upstream.calls.load(Ordering::SeqCst), 4);
}

#[tokio::test(start_paused = true)]
async fn other_errors_pass_through_at_once() {
    let upstream = Upstream::new(1, true);
    let start = Instant::now();
    assert_eq!(upstream.fetch("page").await, Err(FetchError::Gone));
    assert_eq!(upstream.calls.load(Ordering::SeqCst), 2);
    assert_eq!(start.elapsed(), Duration::from_secs(1));
}

static FREE_CALLS: AtomicU32 = AtomicU32::new(0);

#[oslo::retry(max_retry_count = -1, inc_sleep_time = "10ms", when = |_: &FetchError| true)]
async fn flaky(succeed_on: u32) -> Result<u32, FetchError> {
    let call = FREE_CALLS.fetch_add(1, Ordering::SeqCst) + 1;
    if call < *succeed_on {
        Err(FetchError::Busy)
    } else {
        Ok(call)
    }
}

#[tokio::test(start_paused = true)]
async fn a_free_function_retries_forever_with_a_closure_predicate() {
    // The body sees its arguments by reference, as it runs once per try.
    assert_eq!(flaky(50).await, Ok(50));
}
