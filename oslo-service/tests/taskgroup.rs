//! Task groups on tokio's paused clock (SPEC §4).

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use oslo::TaskGroup;
use oslo::looping::{Dynamic, FixedInterval};
use oslo::testing::{LogCapture, run_for, settle};
use tokio::time::Instant;

fn secs(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

/// What the counting timer functions return.
type Tick = std::future::Ready<Result<ControlFlow<(), ()>, oslo::Error>>;

/// A counter and a timer function that bumps it on each run.
fn ticks() -> (Arc<AtomicUsize>, impl FnMut() -> Tick + Send + 'static) {
    let count = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&count);
    (count, move || {
        counter.fetch_add(1, Ordering::SeqCst);
        std::future::ready(Ok(ControlFlow::Continue(())))
    })
}

#[tokio::test(start_paused = true)]
async fn wait_returns_once_every_task_has_finished() {
    let group = TaskGroup::new();
    let first = group.add_task(async {
        tokio::time::sleep(secs(3)).await;
        "first"
    });
    let second = group.add_task(async {
        tokio::time::sleep(secs(7)).await;
        "second"
    });
    settle().await;
    assert_eq!(group.task_count(), 2);

    let started = Instant::now();
    group.wait().await;
    assert_eq!(started.elapsed(), secs(7));
    assert_eq!(group.task_count(), 0);
    assert_eq!(
        (first.await.unwrap(), second.await.unwrap()),
        ("first", "second")
    );
}

#[tokio::test(start_paused = true)]
async fn graceful_stop_stops_timers_and_lets_tasks_finish() {
    let group = TaskGroup::new();
    let (timer_runs, tick) = ticks();
    group
        .add_timer(FixedInterval::every(secs(1)), tick)
        .unwrap();
    let task = group.add_task(async {
        tokio::time::sleep(secs(10)).await;
        "finished"
    });
    run_for(Duration::from_millis(2500)).await;
    assert_eq!(timer_runs.load(Ordering::SeqCst), 3);

    let started = Instant::now();
    group.stop(true).await;
    assert_eq!(
        started.elapsed(),
        Duration::from_millis(7500),
        "did not wait for the task"
    );
    assert_eq!(task.await.unwrap(), "finished");
    // The timer stopped at once: no run during the 7.5 s the task took.
    assert_eq!(timer_runs.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn stop_without_grace_aborts_the_tasks() {
    let group = TaskGroup::new();
    let (timer_runs, tick) = ticks();
    group
        .add_timer(FixedInterval::every(secs(1)), tick)
        .unwrap();
    let task = group.add_task(async {
        tokio::time::sleep(secs(3600)).await;
        "finished"
    });
    settle().await;

    let started = Instant::now();
    group.stop(false).await;
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert!(task.await.unwrap_err().is_cancelled());
    assert_eq!(group.task_count(), 0);
    run_for(secs(10)).await;
    assert_eq!(timer_runs.load(Ordering::SeqCst), 1);
    group.wait().await;
    assert_eq!(group.timer_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn timers_tick_until_stopped() {
    let group = TaskGroup::new();
    let (fixed_runs, tick) = ticks();
    group
        .add_timer(FixedInterval::every(secs(10)).initial_delay(secs(5)), tick)
        .unwrap();
    let dynamic_runs = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&dynamic_runs);
    group
        .add_dynamic_timer(Dynamic::new().periodic_interval_max(secs(4)), move || {
            counter.fetch_add(1, Ordering::SeqCst);
            // Asks for 60 s; the cap makes it 4 s.
            std::future::ready(Ok::<_, oslo::Error>(ControlFlow::<(), _>::Continue(Some(
                secs(60),
            ))))
        })
        .unwrap();
    assert_eq!(group.timer_count(), 2);

    run_for(secs(21)).await;
    // Fixed: at 5, 15; dynamic: at 0, 4, 8, 12, 16, 20.
    assert_eq!(fixed_runs.load(Ordering::SeqCst), 2);
    assert_eq!(dynamic_runs.load(Ordering::SeqCst), 6);

    group.stop_timers();
    group.wait_timers().await;
    assert_eq!(group.timer_count(), 0);
    run_for(secs(60)).await;
    assert_eq!(fixed_runs.load(Ordering::SeqCst), 2);
    assert_eq!(dynamic_runs.load(Ordering::SeqCst), 6);
}

#[tokio::test(start_paused = true)]
async fn a_timer_can_be_stopped_alone() {
    let group = TaskGroup::new();
    let (first_runs, first) = ticks();
    let (second_runs, second) = ticks();
    let first_stopper = group
        .add_timer(FixedInterval::every(secs(1)), first)
        .unwrap();
    group
        .add_timer(FixedInterval::every(secs(1)), second)
        .unwrap();
    run_for(Duration::from_millis(1500)).await;
    first_stopper.stop();
    run_for(secs(3)).await;
    assert_eq!(first_runs.load(Ordering::SeqCst), 2);
    assert_eq!(second_runs.load(Ordering::SeqCst), 5);
    group.stop(true).await;
}

#[tokio::test(start_paused = true)]
async fn a_failing_timer_is_logged_when_waited_for() {
    let logs = LogCapture::start();
    let group = TaskGroup::new();
    group
        .add_timer(FixedInterval::every(secs(1)), || async {
            Err::<ControlFlow<(), ()>, _>(oslo::Error::msg("sensor unplugged"))
        })
        .unwrap();
    group.wait().await;
    assert!(
        logs.contains("error waiting on timer"),
        "{}",
        logs.contents()
    );
    assert!(logs.contains("sensor unplugged"));
}

#[tokio::test(start_paused = true)]
async fn cancel_without_timeout_only_asks() {
    let group = TaskGroup::new();
    let token = group.cancellation_token();
    let cooperative = group.add_task(async move {
        token.cancelled().await;
        "cancelled"
    });
    let stubborn = group.add_task(async { tokio::time::sleep(secs(100)).await });
    settle().await;

    group.cancel(None, secs(1)).await;
    assert_eq!(cooperative.await.unwrap(), "cancelled");
    settle().await;
    assert_eq!(group.task_count(), 1);
    assert!(!stubborn.is_finished());
    group.stop(false).await;
}

#[tokio::test(start_paused = true)]
async fn cancel_with_timeout_stops_the_stubborn_at_the_first_check_past_it() {
    let group = TaskGroup::new();
    let token = group.cancellation_token();
    let cooperative = group.add_task(async move { token.cancelled().await });
    let stubborn = group.add_task(async { tokio::time::sleep(secs(100)).await });
    settle().await;

    let started = Instant::now();
    group.cancel(Some(secs(5)), secs(2)).await;
    // Checks at 0, 2, 4 and 6 s: the one at 6 s is past the timeout.
    assert_eq!(started.elapsed(), secs(6));
    assert!(cooperative.await.is_ok());
    assert!(stubborn.await.unwrap_err().is_cancelled());
}

#[tokio::test(start_paused = true)]
async fn cancel_with_timeout_returns_as_soon_as_the_tasks_are_gone() {
    let group = TaskGroup::new();
    let token = group.cancellation_token();
    let finishing = group.add_task(async move {
        token.cancelled().await;
        // A little clean-up before ending.
        tokio::time::sleep(Duration::from_millis(300)).await;
        "clean"
    });
    settle().await;
    let started = Instant::now();
    group.cancel(Some(secs(30)), secs(1)).await;
    assert_eq!(started.elapsed(), Duration::from_millis(300));
    assert_eq!(finishing.await.unwrap(), "clean");
}

#[tokio::test(start_paused = true)]
async fn a_full_group_warns_and_still_runs_the_task() {
    let logs = LogCapture::start();
    let group = TaskGroup::with_size(2);
    assert_eq!(TaskGroup::new().size(), 10);
    let handles: Vec<_> = (0..3)
        .map(|n| {
            group.add_task(async move {
                tokio::time::sleep(secs(1)).await;
                n
            })
        })
        .collect();
    assert_eq!(
        logs.count("task group size exhausted"),
        1,
        "{}",
        logs.contents()
    );
    let mut results = Vec::new();
    for handle in handles {
        results.push(handle.await.unwrap());
    }
    assert_eq!(results, [0, 1, 2]);

    // Once tasks have finished there is room again.
    group.add_task(async {});
    assert_eq!(logs.count("task group size exhausted"), 1);
}

/// Turns a hang into a failure: on the paused clock an hour passes at once when
/// nothing else can run.
async fn within_an_hour<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(secs(3600), future)
        .await
        .expect("still running after an hour: the task waited on itself")
}

#[tokio::test(start_paused = true)]
async fn a_task_never_waits_on_itself() {
    let group = TaskGroup::new();
    group.add_task(async { tokio::time::sleep(secs(4)).await });
    let waiter_group = group.clone();
    let waiter = group.add_task(async move {
        let started = Instant::now();
        // Would hang for ever if the group waited for this very task.
        waiter_group.wait().await;
        started.elapsed()
    });
    assert_eq!(within_an_hour(waiter).await.unwrap(), secs(4));
    group.wait().await;
}

#[tokio::test(start_paused = true)]
async fn a_task_never_aborts_itself() {
    let group = TaskGroup::new();
    let other = group.add_task(async { tokio::time::sleep(secs(100)).await });
    let stopper_group = group.clone();
    let stopper = group.add_task(async move {
        stopper_group.stop(false).await;
        // Still running after the stop it asked for.
        tokio::time::sleep(secs(1)).await;
        "survived"
    });
    assert_eq!(within_an_hour(stopper).await.unwrap(), "survived");
    assert!(other.await.unwrap_err().is_cancelled());
}

#[tokio::test(start_paused = true)]
async fn a_panicking_task_leaves_the_group() {
    let group = TaskGroup::new();
    let handle = group.add_task(async {
        tokio::time::sleep(secs(1)).await;
        panic!("task failed on purpose");
    });
    group.wait().await;
    assert!(handle.await.unwrap_err().is_panic());
    assert_eq!(group.task_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn the_parent_token_cancels_the_group_token() {
    let parent = tokio_util::sync::CancellationToken::new();
    let group = TaskGroup::with_parent(5, &parent);
    assert_eq!(group.size(), 5);
    let token = group.cancellation_token();
    group.cancel(None, secs(1)).await;
    assert!(
        token.is_cancelled() && !parent.is_cancelled(),
        "cancel reached the parent"
    );

    let group = TaskGroup::with_parent(5, &parent);
    parent.cancel();
    assert!(group.cancellation_token().is_cancelled());
}

#[tokio::test(start_paused = true)]
async fn the_context_runs_its_tasks_in_its_group() {
    let cx = oslo::Context::new("demo", oslo::Config::default());
    assert_eq!(cx.task_group().size(), 1000);
    let stopped = cx.shutdown_token();
    cx.spawn(async move { stopped.cancelled().await });
    settle().await;
    assert_eq!(cx.task_group().task_count(), 1);
    assert!(!cx.task_group().cancellation_token().is_cancelled());
    cx.shutdown_token().cancel();
    assert!(cx.task_group().cancellation_token().is_cancelled());
    cx.wait_tasks().await;
    assert_eq!(cx.task_group().task_count(), 0);
}
