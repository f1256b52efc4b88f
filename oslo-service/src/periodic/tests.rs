//! Periodic task rules on tokio's paused clock: every sleep is exact and instant.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::{Instant, advance};

use super::driver::{drive, scheduler_for};
use super::scheduler::{jitter, nearest_boundary};
use super::*;
use crate::{Config, Context, Error};

const SEC: Duration = Duration::from_secs(1);

/// A service whose tasks write their name and the (paused) time they ran.
#[derive(Default)]
struct Probe {
    runs: Mutex<Vec<(String, Duration)>>,
    running: AtomicUsize,
    most_at_once: AtomicUsize,
}

impl Probe {
    fn names(&self) -> Vec<String> {
        self.runs
            .lock()
            .unwrap()
            .iter()
            .map(|(name, _)| name.clone())
            .collect()
    }

    fn times(&self, name: &str) -> Vec<Duration> {
        let runs = self.runs.lock().unwrap();
        runs.iter()
            .filter(|(n, _)| n == name)
            .map(|(_, at)| *at)
            .collect()
    }
}

fn every(seconds: u64) -> Spacing {
    Spacing::Every(Duration::from_secs(seconds))
}

/// A task that records its run and takes `takes` of paused time; it fails when `fails`.
fn task(
    spec: PeriodicTaskSpec,
    start: Instant,
    takes: Duration,
    fails: bool,
) -> PeriodicTask<Probe> {
    let name = spec.name().to_owned();
    PeriodicTask::new(spec, move |probe: &Probe, _cx| {
        let name = name.clone();
        Box::pin(async move {
            let now = probe.running.fetch_add(1, Ordering::SeqCst) + 1;
            probe.most_at_once.fetch_max(now, Ordering::SeqCst);
            probe
                .runs
                .lock()
                .unwrap()
                .push((name.clone(), start.elapsed()));
            tokio::time::sleep(takes).await;
            probe.running.fetch_sub(1, Ordering::SeqCst);
            if fails {
                Err(Error::msg(format!("{name} broke")))
            } else {
                Ok(())
            }
        })
    })
}

fn quick(spec: PeriodicTaskSpec, start: Instant) -> PeriodicTask<Probe> {
    task(spec, start, Duration::ZERO, false)
}

fn cx() -> Context {
    Context::new("probe", Config::default())
}

/// Runs [`drive`] in a task of its own, as a service's `run` hook does.
fn spawn_driver(
    probe: &Arc<Probe>,
    cx: &Context,
    tasks: PeriodicTasks<Probe>,
    timing: Timing,
    seed: u64,
) -> tokio::task::JoinHandle<crate::Result<()>> {
    let (probe, cx) = (Arc::clone(probe), cx.clone());
    tokio::spawn(
        async move { drive(&*probe, &cx, tasks, timing, fastrand::Rng::with_seed(seed)).await },
    )
}

fn seeded(owner: &str) -> PeriodicTasks<Probe> {
    PeriodicTasks::new(owner).with_rng(fastrand::Rng::with_seed(7))
}

#[tokio::test(start_paused = true)]
async fn a_task_first_runs_one_spacing_after_start_and_then_every_spacing() {
    let start = Instant::now();
    let (probe, cx) = (Probe::default(), cx());
    let mut tasks = seeded("Probe");
    assert!(tasks.add_periodic_task(quick(
        PeriodicTaskSpec::new("poll").spacing(every(10)),
        start
    )));

    assert_eq!(
        tasks.run_periodic_tasks(&probe, &cx, false).await.unwrap(),
        10 * SEC
    );
    assert!(probe.names().is_empty());
    for _ in 0..3 {
        advance(10 * SEC).await;
        assert_eq!(
            tasks.run_periodic_tasks(&probe, &cx, false).await.unwrap(),
            10 * SEC
        );
    }
    assert_eq!(probe.times("poll"), [10 * SEC, 20 * SEC, 30 * SEC]);
}

#[tokio::test(start_paused = true)]
async fn run_immediately_runs_at_the_first_tick() {
    let start = Instant::now();
    let (probe, cx) = (Probe::default(), cx());
    let mut tasks = seeded("Probe");
    tasks.add_periodic_task(quick(
        PeriodicTaskSpec::new("poll")
            .spacing(every(10))
            .run_immediately(true),
        start,
    ));
    tasks.run_periodic_tasks(&probe, &cx, false).await.unwrap();
    assert_eq!(probe.times("poll"), [Duration::ZERO]);
}

#[tokio::test(start_paused = true)]
async fn zero_spacing_means_sixty_seconds_and_negative_or_disabled_tasks_are_left_out() {
    let start = Instant::now();
    let (probe, cx) = (Probe::default(), cx());
    let mut tasks = seeded("Probe");
    assert!(tasks.add_periodic_task(quick(
        PeriodicTaskSpec::new("zero").spacing(Spacing::from_secs(0)),
        start
    )));
    assert!(!tasks.add_periodic_task(quick(
        PeriodicTaskSpec::new("negative").spacing(Spacing::from_secs(-1)),
        start
    )));
    assert!(!tasks.add_periodic_task(quick(PeriodicTaskSpec::new("off").enabled(false), start)));
    assert_eq!(tasks.len(), 1);

    assert_eq!(
        tasks.run_periodic_tasks(&probe, &cx, false).await.unwrap(),
        60 * SEC
    );
    advance(59 * SEC).await;
    tasks.run_periodic_tasks(&probe, &cx, false).await.unwrap();
    assert!(probe.names().is_empty());
    advance(SEC).await;
    tasks.run_periodic_tasks(&probe, &cx, false).await.unwrap();
    assert_eq!(probe.names(), ["zero"]);
}

#[tokio::test(start_paused = true)]
async fn idle_for_is_at_most_sixty_seconds_and_at_most_the_shortest_spacing() {
    let start = Instant::now();
    let (probe, cx) = (Probe::default(), cx());
    let mut tasks = seeded("Probe");
    tasks.add_periodic_task(quick(
        PeriodicTaskSpec::new("hourly").spacing(every(3600)),
        start,
    ));
    assert_eq!(
        tasks.run_periodic_tasks(&probe, &cx, false).await.unwrap(),
        60 * SEC
    );

    tasks.add_periodic_task(quick(
        PeriodicTaskSpec::new("often").spacing(every(7)),
        start,
    ));
    advance(3 * SEC).await;
    assert_eq!(
        tasks.run_periodic_tasks(&probe, &cx, false).await.unwrap(),
        4 * SEC
    );
}

#[tokio::test(start_paused = true)]
async fn due_tasks_run_in_definition_order() {
    let start = Instant::now();
    let (probe, cx) = (Probe::default(), cx());
    let mut tasks = seeded("Probe");
    for (name, spacing) in [("c", 30), ("a", 10), ("b", 20)] {
        tasks.add_periodic_task(quick(
            PeriodicTaskSpec::new(name)
                .spacing(every(spacing))
                .run_immediately(true),
            start,
        ));
    }
    tasks.run_periodic_tasks(&probe, &cx, false).await.unwrap();
    advance(60 * SEC).await;
    tasks.run_periodic_tasks(&probe, &cx, false).await.unwrap();
    assert_eq!(probe.names(), ["c", "a", "b", "c", "a", "b"]);
}

#[tokio::test(start_paused = true)]
async fn a_failing_task_is_logged_and_the_others_still_run() {
    let start = Instant::now();
    let (probe, cx) = (Probe::default(), cx());
    let mut tasks = seeded("Probe");
    let now = |name| {
        PeriodicTaskSpec::new(name)
            .spacing(every(10))
            .run_immediately(true)
    };
    tasks.add_periodic_task(task(now("broken"), start, Duration::ZERO, true));
    tasks.add_periodic_task(quick(now("fine"), start));

    tasks.run_periodic_tasks(&probe, &cx, false).await.unwrap();
    assert_eq!(probe.names(), ["broken", "fine"]);
    let stats = tasks.stats();
    assert_eq!((stats[0].runs, stats[0].failures), (1, 1));
    assert_eq!(stats[0].last_error.as_deref(), Some("broken broke"));
    assert_eq!(
        (
            stats[1].runs,
            stats[1].failures,
            stats[1].last_error.clone()
        ),
        (1, 0, None)
    );
    assert_eq!(stats[1].next_due, Some(start + 10 * SEC));
}

#[tokio::test(start_paused = true)]
async fn raise_on_error_returns_the_error_and_leaves_the_rest_for_the_next_tick() {
    let start = Instant::now();
    let (probe, cx) = (Probe::default(), cx());
    let mut tasks = seeded("Probe");
    let now = |name| {
        PeriodicTaskSpec::new(name)
            .spacing(every(10))
            .run_immediately(true)
    };
    tasks.add_periodic_task(task(now("broken"), start, Duration::ZERO, true));
    tasks.add_periodic_task(quick(now("fine"), start));

    let err = tasks
        .run_periodic_tasks(&probe, &cx, true)
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "error during Probe.broken: broken broke");
    assert_eq!(probe.names(), ["broken"]);
    tasks.run_periodic_tasks(&probe, &cx, false).await.unwrap();
    assert_eq!(probe.names(), ["broken", "fine"]);
}

#[tokio::test(start_paused = true)]
async fn external_tasks_are_left_out_when_run_external_periodic_tasks_is_false() {
    let start = Instant::now();
    let external = || {
        quick(
            PeriodicTaskSpec::new("ext").external_process_ok(true),
            start,
        )
    };
    let mut tasks: PeriodicTasks<Probe> = seeded("Probe").run_external_tasks(false);
    assert!(!tasks.add_periodic_task(external()));
    let mut tasks: PeriodicTasks<Probe> = seeded("Probe");
    assert!(tasks.add_periodic_task(external()));

    let conf = Config::from_snapshot(
        crate::config::Snapshot::from_ini("[DEFAULT]\nrun_external_periodic_tasks = false\n", None)
            .unwrap(),
    );
    let cx = Context::new("probe", conf);
    assert!(
        scheduler_for("Probe", &cx, vec![external()])
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(start_paused = true)]
async fn a_bad_run_external_periodic_tasks_is_an_error_wherever_a_task_is_added() {
    let start = Instant::now();
    let conf = Config::from_snapshot(
        crate::config::Snapshot::from_ini("[DEFAULT]\nrun_external_periodic_tasks = maybe\n", None)
            .unwrap(),
    );
    let cx = Context::new("probe", conf);
    let task = || quick(PeriodicTaskSpec::new("t"), start);
    let declared = scheduler_for("Probe", &cx, vec![task()]).map(|tasks| tasks.len());
    let added = cx.add_periodic_task(task());
    for outcome in [declared.map(|_| ()), added.map(|_| ())] {
        let message = outcome.unwrap_err().to_string();
        assert!(
            message.contains("run_external_periodic_tasks") && message.contains("maybe"),
            "{message}"
        );
    }
}

#[test]
fn jitter_is_whole_seconds_up_to_five_percent_and_none_under_twenty_seconds() {
    let mut rng = fastrand::Rng::with_seed(1);
    for _ in 0..10_000 {
        assert_eq!(jitter(19 * SEC, &mut rng), Duration::ZERO);
    }
    let draws: Vec<Duration> = (0..10_000).map(|_| jitter(100 * SEC, &mut rng)).collect();
    assert!(draws.iter().all(|d| *d <= 5 * SEC && d.subsec_nanos() == 0));
    for whole in 0..5 {
        assert!(
            draws.contains(&Duration::from_secs(whole)),
            "{whole} s never drawn"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn the_next_run_is_aligned_to_the_spacing_grid() {
    let origin = Instant::now();
    assert_eq!(
        nearest_boundary(None, 10 * SEC, origin + 23 * SEC, SEC),
        origin + 23 * SEC
    );
    assert_eq!(
        nearest_boundary(Some(origin), 10 * SEC, origin + 23 * SEC, Duration::ZERO),
        origin + 20 * SEC
    );
    assert_eq!(
        nearest_boundary(Some(origin), 10 * SEC, origin + 23 * SEC, 2 * SEC),
        origin + 22 * SEC
    );

    // A late tick does not shift the grid: runs stay at multiples of the spacing.
    let (probe, cx) = (Probe::default(), cx());
    let mut tasks = seeded("Probe");
    tasks.add_periodic_task(quick(
        PeriodicTaskSpec::new("poll").spacing(every(10)),
        origin,
    ));
    advance(13 * SEC).await;
    assert_eq!(
        tasks.run_periodic_tasks(&probe, &cx, false).await.unwrap(),
        7 * SEC
    );
}

#[tokio::test(start_paused = true)]
async fn the_driver_never_overlaps_a_task_and_stops_when_asked() {
    let start = Instant::now();
    let probe = Arc::new(Probe::default());
    let cx = cx();
    let mut tasks = seeded("Probe");
    // Each run takes 25 s, longer than its 10 s spacing.
    tasks.add_periodic_task(task(
        PeriodicTaskSpec::new("slow")
            .spacing(every(10))
            .run_immediately(true),
        start,
        25 * SEC,
        false,
    ));
    let driver = spawn_driver(&probe, &cx, tasks, Timing::default(), 3);
    // Sleeping on the paused clock lets every timer due meanwhile fire in order.
    tokio::time::sleep(100 * SEC).await;
    cx.request_stop();
    driver.await.unwrap().unwrap();
    assert_eq!(probe.most_at_once.load(Ordering::SeqCst), 1);
    let times = probe.times("slow");
    assert!(times.len() >= 3, "{times:?}");
    assert!(
        times.windows(2).all(|w| w[1] - w[0] >= 25 * SEC),
        "{times:?}"
    );
    assert_eq!(cx.periodic_task_stats()[0].runs as usize, times.len());
}

#[tokio::test(start_paused = true)]
async fn the_first_tick_waits_a_random_whole_number_of_seconds_up_to_the_fuzzy_delay() {
    let mut firsts = Vec::new();
    for seed in 0..40 {
        let start = Instant::now();
        let probe = Arc::new(Probe::default());
        let cx = cx();
        let mut tasks = seeded("Probe");
        tasks.add_periodic_task(quick(
            PeriodicTaskSpec::new("t").run_immediately(true),
            start,
        ));
        let timing = Timing {
            fuzzy_delay: 5 * SEC,
            ..Timing::default()
        };
        let driver = spawn_driver(&probe, &cx, tasks, timing, seed);
        tokio::time::sleep(6 * SEC).await;
        cx.request_stop();
        driver.await.unwrap().unwrap();
        firsts.push(probe.times("t")[0]);
    }
    assert!(
        firsts
            .iter()
            .all(|d| *d <= 5 * SEC && d.subsec_nanos() == 0),
        "{firsts:?}"
    );
    assert!(firsts.iter().any(|d| *d > Duration::ZERO), "{firsts:?}");
}

#[tokio::test(start_paused = true)]
async fn the_driver_caps_its_sleep_at_interval_max() {
    let start = Instant::now();
    let probe = Arc::new(Probe::default());
    let cx = cx();
    let mut tasks = seeded("Probe");
    tasks.add_periodic_task(quick(
        PeriodicTaskSpec::new("minutely").run_immediately(true),
        start,
    ));
    let timing = Timing {
        interval_max: 5 * SEC,
        ..Timing::default()
    };
    let driver = spawn_driver(&probe, &cx, tasks, timing, 0);
    // Wake-ups every 5 s do not make the task run more often than its 60 s spacing.
    tokio::time::sleep(125 * SEC).await;
    cx.request_stop();
    driver.await.unwrap().unwrap();
    assert_eq!(
        probe.times("minutely"),
        [Duration::ZERO, 60 * SEC, 120 * SEC]
    );
}

#[tokio::test(start_paused = true)]
async fn an_abort_drops_the_running_task_where_a_stop_lets_it_finish() {
    for abort in [false, true] {
        let start = Instant::now();
        let probe = Arc::new(Probe::default());
        let cx = cx();
        let mut tasks = seeded("Probe");
        tasks.add_periodic_task(task(
            PeriodicTaskSpec::new("long").run_immediately(true),
            start,
            100 * SEC,
            false,
        ));
        let driver = spawn_driver(&probe, &cx, tasks, Timing::default(), 1);
        tokio::time::sleep(10 * SEC).await;
        if abort {
            cx.request_abort()
        } else {
            cx.request_stop()
        }
        driver.await.unwrap().unwrap();
        let finished_at = start.elapsed();
        // The probe counts a run as running until its 100 s are over.
        let still_running = probe.running.load(Ordering::SeqCst);
        if abort {
            assert_eq!((still_running, finished_at), (1, 10 * SEC));
        } else {
            assert_eq!((still_running, finished_at), (0, 100 * SEC));
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_driver_started_without_tasks_runs_one_added_an_hour_later_at_once() {
    let start = Instant::now();
    let probe = Arc::new(Probe::default());
    let cx = cx();
    let driver = spawn_driver(&probe, &cx, seeded("Probe"), Timing::default(), 0);
    tokio::time::sleep(3600 * SEC).await;
    let added = cx.add_periodic_task(quick(
        PeriodicTaskSpec::new("late").run_immediately(true),
        start,
    ));
    assert!(added.unwrap());
    tokio::time::sleep(SEC).await;
    cx.request_stop();
    driver.await.unwrap().unwrap();
    assert_eq!(probe.times("late"), [3600 * SEC]);
}

/// The options the configured tasks below read.
#[crate::options(group = "probe", namespace = "test", crate = "crate")]
struct ProbeOpts {
    /// Time between two polls.
    #[opt(default = "10s", mutable)]
    interval: Duration,
    /// Whether it polls.
    #[opt(default = true, mutable)]
    polling: bool,
}

/// `poll`, with its spacing from `[probe] interval` and its switch from `[probe] polling`.
fn configured(start: Instant) -> PeriodicTask<Probe> {
    let spec = PeriodicTaskSpec::new("poll")
        .spacing_from(OptionRef::new("interval", |opts: &ProbeOpts| opts.interval))
        .enabled_from(OptionRef::new("polling", |opts: &ProbeOpts| opts.polling));
    quick(spec, start)
}

fn probe_conf(ini: &str) -> Config {
    Config::from_ini_text(ini, &[crate::config::GroupInfo::of::<ProbeOpts>()]).unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_reload_changes_the_spacing_and_the_switch_of_a_configured_task_at_once() {
    let start = Instant::now();
    let probe = Arc::new(Probe::default());
    let cx = Context::new("probe", probe_conf("[probe]\ninterval = 10s\n"));
    let tasks = scheduler_for("Probe", &cx, vec![configured(start)]).unwrap();
    let driver = spawn_driver(&probe, &cx, tasks, Timing::default(), 3);
    tokio::time::sleep(35 * SEC).await;
    assert_eq!(probe.times("poll"), [10 * SEC, 20 * SEC, 30 * SEC]);
    let stats = &cx.periodic_task_stats()[0];
    assert_eq!(stats.spacing, Some(10 * SEC));
    assert_eq!(stats.spacing_from.as_deref(), Some("probe.interval"));
    assert_eq!(stats.enabled_from.as_deref(), Some("probe.polling"));

    // Its last run was at 30 s: 2 s later is past, so it runs at once, then every 2 s.
    cx.conf()
        .mutate_from_ini("[probe]\ninterval = 2s\n")
        .unwrap();
    tokio::time::sleep(7 * SEC).await;
    assert_eq!(
        probe.times("poll")[3..],
        [35 * SEC, 37 * SEC, 39 * SEC, 41 * SEC]
    );
    assert_eq!(cx.periodic_task_stats()[0].spacing, Some(2 * SEC));

    // Switched off: it leaves the schedule, and says so.
    cx.conf()
        .mutate_from_ini("[probe]\ninterval = 2s\npolling = false\n")
        .unwrap();
    tokio::time::sleep(20 * SEC).await;
    assert_eq!(probe.times("poll").len(), 7);
    let stats = &cx.periodic_task_stats()[0];
    assert_eq!((stats.spacing, stats.next_due), (None, None));
    assert_eq!(
        cx.run_periodic_task_now("poll").await,
        Err("not run: Probe.poll is switched off by probe.polling".to_owned())
    );

    // Switched on again, long after its last run: it runs at once.
    cx.conf()
        .mutate_from_ini("[probe]\ninterval = 5s\n")
        .unwrap();
    tokio::time::sleep(6 * SEC).await;
    assert_eq!(probe.times("poll")[7..], [62 * SEC, 67 * SEC]);
    cx.request_stop();
    driver.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_configured_task_switched_off_at_start_waits_to_be_switched_on() {
    let start = Instant::now();
    let (probe, cx) = (
        Probe::default(),
        Context::new("probe", probe_conf("[probe]\npolling = false\n")),
    );
    let mut tasks = seeded("Probe");
    assert!(tasks.add_periodic_task(configured(start)));
    assert_eq!(
        tasks.run_periodic_tasks(&probe, &cx, false).await.unwrap(),
        DEFAULT_INTERVAL
    );
    assert!(tasks.is_empty());
    advance(100 * SEC).await;
    tasks.run_periodic_tasks(&probe, &cx, false).await.unwrap();
    assert!(probe.times("poll").is_empty());

    cx.conf()
        .mutate_from_ini("[probe]\npolling = true\ninterval = 0\n")
        .unwrap();
    // Spacing 0 is the default 60 s, counted from the moment it is switched on.
    tasks.run_periodic_tasks(&probe, &cx, false).await.unwrap();
    assert_eq!(tasks.stats()[0].spacing, Some(DEFAULT_INTERVAL));
    advance(60 * SEC).await;
    tasks.run_periodic_tasks(&probe, &cx, false).await.unwrap();
    assert_eq!(probe.times("poll"), [160 * SEC]);
}

#[tokio::test(start_paused = true)]
async fn an_option_of_a_group_the_program_did_not_register_is_an_error_naming_the_task() {
    let cx = Context::new(
        "probe",
        Config::from_ini_text("[probe]\ninterval = 2s\n", &[]).unwrap(),
    );
    let err = scheduler_for("Probe", &cx, vec![configured(Instant::now())]).unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with(
            "periodic task poll is switched on and off by [probe] polling, which cannot be read: "
        ),
        "{message}"
    );
    assert!(message.contains("ProbeOpts"), "{message}");
}
