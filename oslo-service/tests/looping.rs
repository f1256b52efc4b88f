//! Looping calls and retries on tokio's paused clock (SPEC §3, §10).

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use oslo::looping::{
    BackOff, Dynamic, FixedInterval, LoopingCall, LoopingCallError, RetryPolicy, SplitMix64, retry,
};
use oslo::testing::{LogCapture, SleepRecorder, run_for, settle};
use tokio::time::Instant;

fn secs(secs: f64) -> Duration {
    Duration::from_secs_f64(secs)
}

#[derive(Debug, Clone, PartialEq)]
struct Failure(&'static str);

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// The instants, relative to its creation, at which the function started its runs.
#[derive(Clone)]
struct Runs {
    origin: Instant,
    at: Arc<Mutex<Vec<Duration>>>,
}

impl Runs {
    fn new() -> Self {
        Runs {
            origin: Instant::now(),
            at: Arc::default(),
        }
    }

    /// Records a run; returns how many there were, this one included.
    fn record(&self) -> usize {
        let mut at = self.at.lock().unwrap();
        at.push(self.origin.elapsed());
        at.len()
    }

    fn at(&self) -> Vec<Duration> {
        self.at.lock().unwrap().clone()
    }

    fn count(&self) -> usize {
        self.at.lock().unwrap().len()
    }
}

/// What the fixed-interval test functions return.
type Tick = std::pin::Pin<Box<dyn Future<Output = Result<ControlFlow<(), ()>, Failure>> + Send>>;

/// A function that records its runs and takes `run_time` each.
fn ticking(runs: &Runs, run_time: Duration) -> impl FnMut() -> Tick + Send + 'static {
    let runs = runs.clone();
    move || {
        let runs = runs.clone();
        Box::pin(async move {
            runs.record();
            tokio::time::sleep(run_time).await;
            Ok(ControlFlow::Continue(()))
        })
    }
}

#[tokio::test(start_paused = true)]
async fn fixed_interval_sleeps_the_interval_minus_the_run() {
    let runs = Runs::new();
    let sleeps = SleepRecorder::new();
    let call = LoopingCall::new(ticking(&runs, secs(3.0))).with_sleeper(sleeps.clone());
    let handle = call.start(FixedInterval::every(secs(10.0))).unwrap();

    run_for(secs(35.0)).await;
    handle.stop();
    assert_eq!(handle.wait().await.unwrap(), None);

    assert_eq!(runs.at(), [secs(0.0), secs(10.0), secs(20.0), secs(30.0)]);
    assert_eq!(sleeps.sleeps(), [secs(7.0); 4]);
}

#[tokio::test(start_paused = true)]
async fn fixed_interval_warns_when_a_run_outlasts_the_interval() {
    let logs = LogCapture::start();
    let runs = Runs::new();
    let sleeps = SleepRecorder::new();
    let call = LoopingCall::new(ticking(&runs, secs(12.5)))
        .named("slow_poll")
        .with_sleeper(sleeps.clone());
    let handle = call.start(FixedInterval::every(secs(10.0))).unwrap();

    run_for(secs(30.0)).await;
    handle.stop();
    handle.wait().await.unwrap();

    // No pause between runs: the next one starts at once.
    assert_eq!(runs.at(), [secs(0.0), secs(12.5), secs(25.0)]);
    assert_eq!(sleeps.sleeps(), [Duration::ZERO; 2]);
    assert_eq!(
        logs.lines_with(&[
            "function run outlasted interval",
            "function=\"slow_poll\"",
            "overrun_secs=2.5"
        ]),
        2
    );
    assert!(logs.contents().contains("WARN"), "{}", logs.contents());
}

#[tokio::test(start_paused = true)]
async fn fixed_interval_does_not_warn_on_time() {
    let logs = LogCapture::start();
    let runs = Runs::new();
    let call = LoopingCall::new(ticking(&runs, secs(10.0))).named("exact");
    let handle = call.start(FixedInterval::every(secs(10.0))).unwrap();
    run_for(secs(25.0)).await;
    handle.stop();
    handle.wait().await.unwrap();
    assert_eq!(runs.count(), 3);
    assert!(!logs.contains("outlasted"), "{}", logs.contents());
}

#[tokio::test(start_paused = true)]
async fn initial_delay_postpones_the_first_run() {
    let runs = Runs::new();
    let sleeps = SleepRecorder::new();
    let call = LoopingCall::new(ticking(&runs, Duration::ZERO)).with_sleeper(sleeps.clone());
    let handle = call
        .start(FixedInterval::every(secs(10.0)).initial_delay(secs(5.0)))
        .unwrap();

    run_for(secs(4.0)).await;
    assert_eq!(runs.count(), 0);
    run_for(secs(12.0)).await;
    handle.stop();
    handle.wait().await.unwrap();

    assert_eq!(runs.at(), [secs(5.0), secs(15.0)]);
    assert_eq!(sleeps.sleeps(), [secs(5.0), secs(10.0), secs(10.0)]);
}

#[tokio::test(start_paused = true)]
async fn breaking_with_a_value_ends_the_loop_with_it() {
    let runs = Runs::new();
    let counter = runs.clone();
    let call = LoopingCall::new(move || {
        let run = counter.record();
        async move {
            if run == 3 {
                return Ok::<_, Failure>(ControlFlow::Break(format!("done after {run}")));
            }
            Ok(ControlFlow::Continue(()))
        }
    });
    let handle = call.start(FixedInterval::every(secs(1.0))).unwrap();
    assert_eq!(
        handle.wait().await.unwrap().as_deref(),
        Some("done after 3")
    );
    assert_eq!(runs.at(), [secs(0.0), secs(1.0), secs(2.0)]);
    assert!(!call.is_running());
}

#[tokio::test(start_paused = true)]
async fn stop_while_sleeping_ends_the_loop_at_once() {
    let runs = Runs::new();
    let call = LoopingCall::new(ticking(&runs, Duration::ZERO));
    let handle = call.start(FixedInterval::every(secs(60.0))).unwrap();
    run_for(secs(1.0)).await;
    let stopped_at = Instant::now();
    call.stop();
    assert_eq!(handle.wait().await.unwrap(), None);
    assert_eq!(Instant::now(), stopped_at, "waited for the sleep to end");
    assert_eq!(runs.count(), 1);
}

#[tokio::test(start_paused = true)]
async fn stop_during_a_run_lets_it_finish_and_runs_no_more() {
    let runs = Runs::new();
    let call = LoopingCall::new(ticking(&runs, secs(5.0)));
    let handle = call.start(FixedInterval::every(secs(10.0))).unwrap();
    run_for(secs(2.0)).await;
    let stopper = handle.stopper();
    stopper.stop();
    assert!(stopper.is_stopped());
    let started = Instant::now();
    assert_eq!(handle.wait().await.unwrap(), None);
    assert_eq!(started.elapsed(), secs(3.0), "the run was cut short");
    run_for(secs(30.0)).await;
    assert_eq!(runs.count(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_error_ends_the_loop_and_is_its_result() {
    let logs = LogCapture::start();
    let runs = Runs::new();
    let counter = runs.clone();
    let call = LoopingCall::new(move || {
        let run = counter.record();
        async move {
            if run == 2 {
                return Err(Failure("backend down"));
            }
            Ok(ControlFlow::<(), ()>::Continue(()))
        }
    })
    .named("sync_state");
    let handle = call.start(FixedInterval::every(secs(1.0))).unwrap();
    let err = handle.wait().await.unwrap_err();
    assert!(
        matches!(&err, LoopingCallError::Function(Failure("backend down"))),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "backend down");
    assert_eq!(err.into_function_error(), Some(Failure("backend down")));
    assert_eq!(runs.count(), 2);
    assert!(
        logs.lines_with(&[
            "looping call function failed",
            "kind=\"fixed interval looping call\"",
            "function=\"sync_state\""
        ]) == 1,
        "{}",
        logs.contents()
    );
}

#[tokio::test(start_paused = true)]
async fn stop_on_exception_off_logs_the_error_and_goes_on() {
    let logs = LogCapture::start();
    let runs = Runs::new();
    let counter = runs.clone();
    let call = LoopingCall::new(move || {
        let run = counter.record();
        async move {
            match run {
                1 | 2 => Err(Failure("flaky")),
                4 => Ok(ControlFlow::Break(run)),
                _ => Ok(ControlFlow::Continue(())),
            }
        }
    })
    .named("flaky");
    let handle = call
        .start(FixedInterval::every(secs(1.0)).stop_on_exception(false))
        .unwrap();
    assert_eq!(handle.wait().await.unwrap(), Some(4));
    assert_eq!(runs.at(), [secs(0.0), secs(1.0), secs(2.0), secs(3.0)]);
    assert_eq!(
        logs.lines_with(&["looping call function failed", "function=\"flaky\""]),
        2
    );
    assert!(logs.contains("ERROR"));
}

#[tokio::test(start_paused = true)]
async fn a_second_start_is_refused_while_running() {
    let runs = Runs::new();
    let call = LoopingCall::new(ticking(&runs, Duration::ZERO));
    let first = call.start(FixedInterval::every(secs(1.0))).unwrap();
    settle().await;
    assert!(call.is_running());
    let err = call.start(FixedInterval::every(secs(1.0))).unwrap_err();
    assert!(matches!(err, LoopingCallError::AlreadyRunning));
    assert_eq!(
        err.to_string(),
        "a looping call can only run one function at a time"
    );

    // Once the loop has ended the call can be started again.
    first.stop();
    first.wait().await.unwrap();
    assert!(!call.is_running());
    let second = call.start(FixedInterval::every(secs(1.0))).unwrap();
    run_for(secs(1.5)).await;
    second.stop();
    second.wait().await.unwrap();
    assert_eq!(runs.count(), 3);
}

#[tokio::test(start_paused = true)]
async fn an_aborted_loop_gives_its_function_back() {
    let runs = Runs::new();
    let call = LoopingCall::new(ticking(&runs, secs(100.0)));
    let handle = call.start(FixedInterval::every(secs(1.0))).unwrap();
    settle().await;
    handle.abort();
    assert!(matches!(
        handle.wait().await,
        Err(LoopingCallError::TaskFailed(_))
    ));
    assert!(!call.is_running());
    let again = call.start(FixedInterval::every(secs(1.0))).unwrap();
    again.abort();
}

#[test]
fn start_outside_a_runtime_is_an_error() {
    let call = LoopingCall::new(|| async { Ok::<_, Failure>(ControlFlow::<(), ()>::Continue(())) });
    let err = call.start(FixedInterval::every(secs(1.0))).unwrap_err();
    assert!(matches!(err, LoopingCallError::NoRuntime), "{err:?}");
    assert!(!call.is_running());
}

#[tokio::test(start_paused = true)]
async fn fixed_interval_with_timeout_ends_with_a_timeout_error() {
    let runs = Runs::new();
    let call = LoopingCall::new(ticking(&runs, Duration::ZERO));
    let handle = call
        .start(FixedInterval::every(secs(1.0)).timeout(secs(3.5)))
        .unwrap();
    let err = handle.wait().await.unwrap_err();
    // Checked after each run, as oslo.service does: the run at 4 s is the first past it.
    assert!(
        matches!(err, LoopingCallError::TimedOut { after } if after == secs(4.0)),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "looping call timed out after 4.00 seconds");
    assert_eq!(runs.count(), 5);
}

#[tokio::test(start_paused = true)]
async fn fixed_interval_with_zero_timeout_never_times_out() {
    let runs = Runs::new();
    let call = LoopingCall::new(ticking(&runs, Duration::ZERO));
    let handle = call
        .start(FixedInterval::every(secs(1.0)).timeout(Duration::ZERO))
        .unwrap();
    run_for(secs(100.5)).await;
    assert!(!handle.is_finished());
    handle.stop();
    handle.wait().await.unwrap();
    assert_eq!(runs.count(), 101);
}

/// A dynamic function that asks for the given sleeps in turn, then breaks.
fn asking(
    asks: Vec<Option<Duration>>,
) -> impl FnMut() -> std::future::Ready<Result<ControlFlow<&'static str, Option<Duration>>, Failure>>
+ Send
+ 'static {
    let mut asks = asks.into_iter();
    move || {
        std::future::ready(Ok(match asks.next() {
            Some(ask) => ControlFlow::Continue(ask),
            None => ControlFlow::Break("done"),
        }))
    }
}

#[tokio::test(start_paused = true)]
async fn dynamic_sleeps_what_the_function_asks_within_the_cap() {
    let sleeps = SleepRecorder::new();
    let asks = vec![Some(secs(1.0)), Some(secs(100.0)), None, Some(secs(0.25))];
    let call = LoopingCall::new(asking(asks)).with_sleeper(sleeps.clone());
    let started = Instant::now();
    let handle = call
        .start(
            Dynamic::new()
                .periodic_interval_max(secs(30.0))
                .initial_delay(secs(2.0)),
        )
        .unwrap();
    assert_eq!(handle.wait().await.unwrap(), Some("done"));
    assert_eq!(
        sleeps.sleeps(),
        [secs(2.0), secs(1.0), secs(30.0), secs(30.0), secs(0.25)]
    );
    assert_eq!(started.elapsed(), secs(63.25));
}

#[tokio::test(start_paused = true)]
async fn dynamic_without_interval_or_cap_is_an_error() {
    let sleeps = SleepRecorder::new();
    let call = LoopingCall::new(asking(vec![Some(secs(5.0)), None])).with_sleeper(sleeps.clone());
    let err = call
        .start(Dynamic::new())
        .unwrap()
        .wait()
        .await
        .unwrap_err();
    assert!(matches!(err, LoopingCallError::NoInterval), "{err:?}");
    assert_eq!(
        err.to_string(),
        "dynamic interval looping call should supply either an interval or periodic_interval_max"
    );
    assert_eq!(sleeps.sleeps(), [secs(5.0)]);
}

#[tokio::test(start_paused = true)]
async fn dynamic_after_a_logged_error_sleeps_the_cap() {
    let sleeps = SleepRecorder::new();
    let mut run = 0;
    let call = LoopingCall::new(move || {
        run += 1;
        let run = run;
        async move {
            match run {
                1 => Err(Failure("transient")),
                2 => Ok(ControlFlow::Continue(Some(secs(3.0)))),
                _ => Ok(ControlFlow::Break(())),
            }
        }
    })
    .with_sleeper(sleeps.clone());
    let handle = call
        .start(
            Dynamic::new()
                .periodic_interval_max(secs(20.0))
                .stop_on_exception(false),
        )
        .unwrap();
    assert_eq!(handle.wait().await.unwrap(), Some(()));
    assert_eq!(sleeps.sleeps(), [secs(20.0), secs(3.0)]);
}

/// A back-off function reporting the given successes in turn, then breaking.
fn outcomes(
    results: Vec<bool>,
) -> impl FnMut() -> std::future::Ready<Result<ControlFlow<(), bool>, Failure>> + Send + 'static {
    let mut results = results.into_iter();
    move || {
        std::future::ready(Ok(match results.next() {
            Some(success) => ControlFlow::Continue(success),
            None => ControlFlow::Break(()),
        }))
    }
}

#[tokio::test(start_paused = true)]
async fn back_off_doubles_on_failure_and_resets_on_success() {
    // Over many seeds, the k-th sleep averages its mean: with jitter 1 the back-off
    // doubles (about 2, 4, 8, 16 s), a success brings it back to starting_interval
    // (about 1 s), and the next failure starts doubling over (about 2 s).
    let expected_means = [2.0, 4.0, 8.0, 16.0, 1.0, 2.0];
    let draws = 300;
    let mut sums = [0.0; 6];
    for seed in 0..draws {
        let sleeps = SleepRecorder::instant();
        let call = LoopingCall::new(outcomes(vec![false, false, false, false, true, false]))
            .with_sleeper(sleeps.clone());
        let pacing = BackOff::new()
            .jitter(1.0)
            .timeout(Duration::ZERO)
            .with_rng(SplitMix64::seeded(seed));
        call.start(pacing).unwrap().wait().await.unwrap();
        let sleeps = sleeps.sleeps();
        assert_eq!(sleeps.len(), 6);
        for (sum, sleep) in sums.iter_mut().zip(&sleeps) {
            *sum += sleep.as_secs_f64();
        }
    }
    for (sum, mean) in sums.iter().zip(expected_means) {
        let average = sum / f64::from(draws as u32);
        assert!(
            (average / mean - 1.0).abs() < 0.05,
            "average {average}, expected about {mean}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn back_off_jitter_stays_within_the_bounds() {
    let sleeps = SleepRecorder::instant();
    let results = std::iter::repeat_n(false, 400)
        .chain(std::iter::repeat_n(true, 400))
        .collect();
    let call = LoopingCall::new(outcomes(results)).with_sleeper(sleeps.clone());
    let pacing = BackOff::new()
        .starting_interval(secs(2.0))
        .min_interval(secs(0.5))
        .max_interval(secs(60.0))
        .timeout(Duration::ZERO)
        .with_rng(SplitMix64::seeded(99));
    call.start(pacing).unwrap().wait().await.unwrap();

    let sleeps = sleeps.sleeps();
    let (failing, succeeding) = sleeps.split_at(400);
    assert!(
        failing.iter().all(|s| (secs(0.5)..=secs(60.0)).contains(s)),
        "{failing:?}"
    );
    // Far along the back-off the cap is what keeps the sleeps bounded.
    assert!(
        failing[300..].iter().all(|s| *s == secs(60.0)),
        "{failing:?}"
    );
    // After a success: starting_interval × |N(0.75, 0.25)|, averaging about 1.5 s.
    let mean = succeeding.iter().map(Duration::as_secs_f64).sum::<f64>() / succeeding.len() as f64;
    assert!((mean - 1.5).abs() < 0.1, "mean {mean}");
    assert!(succeeding.iter().any(|s| *s > secs(2.0)));
}

#[tokio::test(start_paused = true)]
async fn back_off_times_out_when_failing_too_long() {
    let sleeps = SleepRecorder::new();
    let call = LoopingCall::new(outcomes(vec![false; 1000])).with_sleeper(sleeps.clone());
    let pacing = BackOff::new()
        .timeout(secs(60.0))
        .with_rng(SplitMix64::seeded(3));
    let started = Instant::now();
    let err = call.start(pacing).unwrap().wait().await.unwrap_err();
    let LoopingCallError::TimedOut { after } = err else {
        panic!("expected a timeout, got {err:?}");
    };
    let sleeps = sleeps.sleeps();
    let slept: Duration = sleeps.iter().sum();
    assert!(
        slept <= secs(60.0) && after > secs(60.0),
        "slept {slept:?}, after {after:?}"
    );
    assert!(sleeps.len() > 3, "{sleeps:?}");
    // Tokio's timers round each sleep up to the millisecond.
    let rounding = Duration::from_millis(sleeps.len() as u64);
    assert!(started.elapsed() >= slept && started.elapsed() <= slept + rounding);
}

#[tokio::test(start_paused = true)]
async fn back_off_counts_a_logged_error_as_a_failure() {
    let sleeps = SleepRecorder::new();
    let mut run = 0;
    let call = LoopingCall::new(move || {
        run += 1;
        let run = run;
        async move {
            match run {
                1 => Err(Failure("refused")),
                _ => Ok(ControlFlow::<(), bool>::Break(())),
            }
        }
    })
    .with_sleeper(sleeps.clone());
    let pacing = BackOff::new()
        .jitter(1.0)
        .min_interval(secs(1.5))
        .stop_on_exception(false)
        .with_rng(SplitMix64::seeded(8));
    call.start(pacing).unwrap().wait().await.unwrap();
    // A failure's sleep is at least min_interval; a success's could be shorter.
    let sleeps = sleeps.sleeps();
    assert_eq!(sleeps.len(), 1);
    assert!(sleeps[0] >= secs(1.5), "{sleeps:?}");
}

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

fn policy(sleeps: &SleepRecorder) -> RetryPolicy {
    RetryPolicy::new()
        .inc_sleep_time(secs(1.0))
        .max_sleep_time(secs(3.0))
        .with_sleeper(sleeps.clone())
}

#[tokio::test(start_paused = true)]
async fn retry_sleeps_longer_each_time_up_to_the_cap() {
    let sleeps = SleepRecorder::new();
    let mut tries = 0;
    let result = retry(
        &policy(&sleeps),
        |e| *e == FetchError::Busy,
        || {
            tries += 1;
            let outcome = if tries <= 5 {
                Err(FetchError::Busy)
            } else {
                Ok(tries)
            };
            async move { outcome }
        },
    )
    .await;
    assert_eq!(result, Ok(6));
    assert_eq!(
        sleeps.sleeps(),
        [secs(1.0), secs(2.0), secs(3.0), secs(3.0), secs(3.0)]
    );
}

#[tokio::test(start_paused = true)]
async fn retry_gives_up_after_max_retry_count() {
    let sleeps = SleepRecorder::new();
    let mut tries = 0;
    let result: Result<(), _> = retry(
        &policy(&sleeps).max_retry_count(2),
        |_| true,
        || {
            tries += 1;
            async { Err(FetchError::Busy) }
        },
    )
    .await;
    assert_eq!(result, Err(FetchError::Busy));
    assert_eq!(tries, 3, "one call and two retries");
    assert_eq!(sleeps.sleeps(), [secs(1.0), secs(2.0)]);
}

#[tokio::test(start_paused = true)]
async fn retry_passes_other_errors_through_at_once() {
    let sleeps = SleepRecorder::new();
    let mut tries = 0;
    let result: Result<(), _> = retry(
        &policy(&sleeps),
        |e| *e == FetchError::Busy,
        || {
            tries += 1;
            let error = if tries == 1 {
                FetchError::Busy
            } else {
                FetchError::Gone
            };
            async { Err(error) }
        },
    )
    .await;
    assert_eq!(result, Err(FetchError::Gone));
    assert_eq!(tries, 2);
    assert_eq!(sleeps.sleeps(), [secs(1.0)]);
}

#[tokio::test(start_paused = true)]
async fn retry_defaults_retry_forever_every_ten_seconds_more_up_to_a_minute() {
    let sleeps = SleepRecorder::instant();
    let policy = RetryPolicy::new().with_sleeper(sleeps.clone());
    assert_eq!(policy.retry_limit(), None);
    let mut tries = 0;
    let result = retry(
        &policy,
        |_| true,
        || {
            tries += 1;
            let outcome = if tries <= 50 {
                Err(FetchError::Busy)
            } else {
                Ok(())
            };
            async move { outcome }
        },
    )
    .await;
    assert_eq!(result, Ok(()));
    let sleeps = sleeps.sleeps();
    assert_eq!(sleeps.len(), 50);
    assert_eq!(
        sleeps[..7],
        [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 60.0].map(secs)
    );
    assert!(sleeps.iter().all(|s| *s <= secs(60.0)));
}

#[tokio::test(start_paused = true)]
async fn retry_can_borrow_and_run_inside_a_spawned_task() {
    // What an attribute wrapping an `async fn` needs: the body borrows the arguments,
    // and the future stays `Send`.
    async fn fetch(name: &str, attempts: &AtomicU32) -> Result<String, FetchError> {
        let policy = RetryPolicy::new().inc_sleep_time(secs(1.0));
        retry(
            &policy,
            |e| *e == FetchError::Busy,
            move || async move {
                if attempts.fetch_add(1, Ordering::Relaxed) == 0 {
                    Err(FetchError::Busy)
                } else {
                    Ok(format!("{name} fetched"))
                }
            },
        )
        .await
    }
    let task = tokio::spawn(async {
        let attempts = AtomicU32::new(0);
        let page = fetch("index", &attempts).await;
        (page, attempts.into_inner())
    });
    assert_eq!(task.await.unwrap(), (Ok("index fetched".to_owned()), 2));
}
