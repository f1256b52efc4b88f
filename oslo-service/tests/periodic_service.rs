//! `#[periodic_task]` through the macros: the generated registry, and a service that runs
//! its tasks by itself between start and stop, on tokio's paused clock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use oslo::periodic::{PeriodicTaskRegistry, Spacing};
use oslo::prelude::*;
use oslo::{Error, Services};
use tokio::time::Instant;

/// When each task ran, in whole seconds since the start.
struct Runs {
    start: Instant,
    runs: Mutex<Vec<(&'static str, u64)>>,
}

impl Runs {
    fn new() -> Self {
        Runs {
            start: Instant::now(),
            runs: Mutex::default(),
        }
    }

    fn record(&self, task: &'static str) {
        let at = self.start.elapsed().as_secs();
        self.runs.lock().unwrap().push((task, at));
    }

    fn of(&self, task: &str) -> Vec<u64> {
        let runs = self.runs.lock().unwrap();
        runs.iter()
            .filter(|(t, _)| *t == task)
            .map(|(_, at)| *at)
            .collect()
    }
}

#[oslo::service(periodic_interval_max = "5s", periodic_fuzzy_delay = 0)]
struct Counter {
    runs: Runs,
}

impl Counter {
    fn record(&self, task: &'static str) {
        self.runs.record(task);
    }

    fn runs_of(&self, task: &str) -> Vec<u64> {
        self.runs.of(task)
    }
}

#[oslo::service]
impl Counter {
    #[periodic_task(spacing = "10s", run_immediately = true)]
    async fn fast(&self) {
        self.record("fast");
    }

    #[periodic_task(spacing = 15, name = "quarter-minute")]
    async fn slow(&self, cx: &Context) -> oslo::Result<()> {
        assert_eq!(cx.service_name(), "Counter");
        self.record("slow");
        Err(Error::msg("slow always fails"))
    }

    #[periodic_task(spacing = -1)]
    async fn never(&self) {
        self.record("never");
    }

    #[periodic_task(enabled = false)]
    async fn off(&self) {
        self.record("off");
    }
}

#[test]
fn the_registry_lists_tasks_in_definition_order_with_their_arguments() {
    let tasks = Counter::periodic_tasks();
    let names: Vec<_> = tasks.iter().map(|t| t.spec().name().to_owned()).collect();
    assert_eq!(names, ["fast", "quarter-minute", "never", "off"]);
    assert_eq!(
        tasks[0].spec().spacing_value(),
        Spacing::Every(Duration::from_secs(10))
    );
    assert!(tasks[0].spec().runs_immediately());
    assert_eq!(
        tasks[1].spec().spacing_value(),
        Spacing::Every(Duration::from_secs(15))
    );
    assert_eq!(tasks[2].spec().spacing_value(), Spacing::Negative);
    assert!(!tasks[3].spec().is_enabled());

    let timing = <Counter as oslo::__private::ServiceStruct>::PERIODIC_TIMING;
    assert_eq!(timing.interval_max, Duration::from_secs(5));
    assert_eq!(timing.fuzzy_delay, Duration::ZERO);
}

/// A `Counter` started under `Services`, as a launcher starts it.
async fn started_counter() -> (Arc<Counter>, Services) {
    let counter = Arc::new(Counter { runs: Runs::new() });
    let mut services = Services::new(Config::default());
    services.add(counter.clone());
    services.start().await.unwrap();
    (counter, services)
}

#[tokio::test(start_paused = true)]
async fn a_started_service_runs_its_tasks_until_it_stops() {
    let (counter, services) = started_counter().await;

    tokio::time::sleep(Duration::from_secs(65)).await;
    services.stop().await;
    services.wait().await;

    assert_eq!(counter.runs_of("fast"), [0, 10, 20, 30, 40, 50, 60]);
    // A failing task keeps its schedule (spacings under 20 s get no jitter).
    assert_eq!(counter.runs_of("slow"), [15, 30, 45, 60]);
    assert!(counter.runs_of("never").is_empty() && counter.runs_of("off").is_empty());

    // Nothing runs once stopped.
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(counter.runs_of("fast").len(), 7);
}

#[tokio::test(start_paused = true)]
async fn a_task_added_at_run_time_joins_the_running_service() {
    let (counter, services) = started_counter().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let added = oslo::periodic::PeriodicTask::new(
        oslo::periodic::PeriodicTaskSpec::new("added")
            .spacing(Spacing::Every(Duration::from_secs(4)))
            .run_immediately(true),
        |counter: &Counter, _cx| {
            Box::pin(async move {
                counter.record("added");
                Ok(())
            })
        },
    );
    assert!(services.contexts()[0].add_periodic_task(added).unwrap());
    tokio::time::sleep(Duration::from_secs(10)).await;
    services.stop().await;
    services.wait().await;
    assert_eq!(counter.runs_of("added"), [3, 7, 11]);
    let stats = services.contexts()[0].periodic_task_stats();
    let added = stats.iter().find(|s| s.name == "added").unwrap();
    assert_eq!((added.runs, added.failures), (3, 0));
}

/// A slow task, a hung one with a timeout, and a quick one: three at once.
#[oslo::service(periodic_max_concurrent = 3, periodic_fuzzy_delay = 0)]
struct Mixed {
    runs: Runs,
    /// How many runs of `slow` are under way now, and the most ever.
    slow_running: Mutex<(u32, u32)>,
}

#[oslo::service]
impl Mixed {
    /// Takes 25 s every 10 s: it must never overlap itself.
    #[periodic_task(spacing = "10s", run_immediately = true)]
    async fn slow(&self) {
        {
            let mut running = self.slow_running.lock().unwrap();
            running.0 += 1;
            running.1 = running.1.max(running.0);
        }
        self.record("slow");
        tokio::time::sleep(Duration::from_secs(25)).await;
        self.slow_running.lock().unwrap().0 -= 1;
    }

    /// Would take an hour: cancelled after 3 s, a failure each time.
    #[periodic_task(spacing = "10s", run_immediately = true, timeout = "3s")]
    async fn hung(&self) {
        self.record("hung");
        tokio::time::sleep(Duration::from_secs(3600)).await;
        self.record("hung finished");
    }

    #[periodic_task(spacing = "1s", run_immediately = true)]
    async fn quick(&self) {
        self.record("quick");
    }
}

impl Mixed {
    fn record(&self, task: &'static str) {
        self.runs.record(task);
    }

    fn runs_of(&self, task: &str) -> Vec<u64> {
        self.runs.of(task)
    }
}

/// A `Mixed` started under `Services` with the configuration `ini`, run for 30.5 s.
async fn mixed_for_thirty_seconds(ini: &str) -> (Arc<Mixed>, Services) {
    let mixed = Arc::new(Mixed {
        runs: Runs::new(),
        slow_running: Mutex::default(),
    });
    let snapshot = oslo::config::Snapshot::from_ini(ini, None).unwrap();
    let mut services = Services::new(Config::from_snapshot(snapshot));
    services.add(mixed.clone());
    services.start().await.unwrap();
    tokio::time::sleep(Duration::from_millis(30_500)).await;
    services.stop().await;
    services.wait().await;
    (mixed, services)
}

#[tokio::test(start_paused = true)]
async fn a_slow_task_delays_no_other_never_overlaps_itself_and_a_timeout_cancels_a_run() {
    let (mixed, services) = mixed_for_thirty_seconds("").await;
    // `quick` ran every second, beside `slow` and `hung`.
    assert_eq!(mixed.runs_of("quick"), (0..=30).collect::<Vec<u64>>());
    // `slow` takes 25 s: due at 10 and 20 while it still runs, it waits; never two runs.
    assert_eq!(mixed.runs_of("slow"), [0, 30]);
    assert_eq!(mixed.slow_running.lock().unwrap().1, 1);
    // `hung` is cancelled after 3 s each time: it never finishes, and each run fails.
    assert_eq!(mixed.runs_of("hung"), [0, 10, 20, 30]);
    assert!(mixed.runs_of("hung finished").is_empty());
    let stats = services.contexts()[0].periodic_task_stats();
    let hung = stats.iter().find(|s| s.name == "hung").unwrap();
    // The run at 30 too: a stop lets the runs under way end (here, by the timeout).
    assert_eq!((hung.runs, hung.failures), (4, 4), "{hung:?}");
    assert_eq!(hung.last_error.as_deref(), Some("timed out after 3s"));
}

#[tokio::test(start_paused = true)]
async fn periodic_max_concurrent_overrides_the_services_bound() {
    // One at a time: `quick` waits its turn behind `slow` (25 s) and `hung` (3 s).
    let (mixed, _services) =
        mixed_for_thirty_seconds("[DEFAULT]\nperiodic_max_concurrent = 1\n").await;
    let quick = mixed.runs_of("quick");
    assert!(quick.first() >= Some(&28), "quick ran at {quick:?}");
    assert_eq!(mixed.runs_of("slow"), [0, 30]);
}

#[test]
fn the_bound_of_tasks_at_once_is_the_services_own() {
    let timing = <Mixed as oslo::__private::ServiceStruct>::PERIODIC_TIMING;
    assert_eq!(timing.max_concurrent, 3);
    let timing = <Counter as oslo::__private::ServiceStruct>::PERIODIC_TIMING;
    assert_eq!(timing.max_concurrent, 4);
    let hung = Mixed::periodic_tasks()
        .into_iter()
        .find(|t| t.spec().name() == "hung")
        .unwrap();
    assert_eq!(hung.spec().timeout_value(), Some(Duration::from_secs(3)));
}
