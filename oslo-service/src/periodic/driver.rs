//! The dynamic timer that runs a service's periodic tasks between its start and stop.

use std::collections::HashSet;
use std::time::Duration;

use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;

use super::PeriodicTaskRegistry;
use super::admission::run_external_tasks;
use super::scheduler::{Finished, PeriodicTasks};
use super::spec::PeriodicTask;
use crate::error::Result;
use crate::service::Context;

/// When a service's periodic tasks run: the arguments `periodic_interval_max`,
/// `periodic_fuzzy_delay` and `periodic_max_concurrent` of `#[oslo::service]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// The longest sleep between two ticks, whatever the tasks' spacing.
    pub interval_max: Duration,
    /// The first tick comes after a random delay of up to this many whole seconds, so
    /// that many processes started together do not run their tasks together.
    pub fuzzy_delay: Duration,
    /// The most due tasks that run at once; a task never overlaps itself.
    pub max_concurrent: usize,
}

impl Timing {
    /// Ticks at least every 60 s, the first tick without delay, up to 4 tasks at once.
    pub const DEFAULT: Timing = Timing {
        interval_max: Duration::from_secs(60),
        fuzzy_delay: Duration::ZERO,
        max_concurrent: 4,
    };
}

impl Default for Timing {
    fn default() -> Self {
        Timing::DEFAULT
    }
}

/// Runs `tasks` until the service is asked to stop: sleeps a random initial delay (drawn
/// from `rng`) up to `timing.fuzzy_delay`, then starts the due tasks and sleeps until
/// the next one is due, at most `timing.interval_max`.
///
/// Due tasks run side by side, at most `timing.max_concurrent` at once (the
/// `periodic_max_concurrent` option overrides it), so a slow task delays no other; a
/// task never overlaps itself (due again while it runs, it waits for its next
/// period). A stop cuts a sleep short and lets the runs under way finish; an abort (a
/// stop at once) drops them. Tasks added with [`Context::add_periodic_task`] join at
/// once.
pub(crate) async fn drive<S: Sync + 'static>(
    service: &S,
    cx: &Context,
    mut tasks: PeriodicTasks<S>,
    timing: Timing,
    mut rng: fastrand::Rng,
) -> Result<()> {
    let shared = cx.driver_shared();
    shared.set_driving(true);
    let _not_driving = NotDriving(&shared);
    let most = max_concurrent(cx, timing)?;
    let fuzzy_seconds = timing.fuzzy_delay.as_secs();
    let mut sleep_for = Duration::from_secs(rng.u64(0..=fuzzy_seconds));
    let mut running = FuturesUnordered::new();
    let mut in_flight: HashSet<usize> = HashSet::new();
    let mut stopping = false;
    let mut reloads = cx.conf().replacements();
    loop {
        tokio::select! {
            biased;
            () = cx.aborted() => return Ok(()),
            () = cx.stopped(), if !stopping => stopping = true,
            Some(done) = running.next(), if !running.is_empty() => {
                let done: Finished = done;
                in_flight.remove(&done.index);
                let name = tasks.name_of(done.index);
                if let Err(err) = tasks.finish(done) {
                    tracing::error!(task = %name, error = %err, "periodic task failed");
                }
                shared.publish(tasks.stats());
            }
            () = shared.added(), if !stopping => {}
            // A reload may change a task's spacing or switch: read them at once.
            Ok(()) = reloads.changed(), if !stopping => {}
            // With no task, nothing is due: wait for one to be added, without waking.
            () = tokio::time::sleep(sleep_for), if !tasks.is_empty() && !stopping => {}
        }
        if stopping {
            if running.is_empty() {
                return Ok(());
            }
            continue;
        }
        for task in shared.take_added::<S>() {
            tasks.add_periodic_task(task);
        }
        if let Err(err) = tasks.configure(cx.conf()) {
            tracing::error!(error = %err, "periodic task keeps its schedule");
        }
        for (name, answer) in shared.take_runs() {
            let outcome = tokio::select! {
                biased;
                () = cx.aborted() => return Ok(()),
                outcome = tasks.run_now(&name, service, cx) => outcome,
            };
            let outcome =
                outcome.unwrap_or_else(|| Err(format!("no periodic task named '{name}'")));
            // The asker sees the run in the stats as soon as it has the answer.
            shared.publish(tasks.stats());
            let _ = answer.send(outcome);
        }
        let now = tokio::time::Instant::now();
        let mut due = tasks.take_due(now);
        due.sort_unstable();
        let mut waiting = false;
        for index in due {
            if in_flight.contains(&index) {
                tasks.put_off(index, now);
            } else if running.len() >= most {
                // It stays due: the next run to end makes room.
                tasks.keep_due(index, now);
                waiting = true;
            } else {
                in_flight.insert(index);
                running.push(tasks.start(index, service, cx));
            }
        }
        shared.publish(tasks.stats());
        sleep_for = if waiting {
            timing.interval_max
        } else {
            tasks.until_next().min(timing.interval_max)
        };
    }
}

/// The most tasks of one service that run at once: `periodic_max_concurrent` when set,
/// else the service's own (`#[oslo::service(periodic_max_concurrent = N)]`).
fn max_concurrent(cx: &Context, timing: Timing) -> Result<usize> {
    let configured = cx
        .conf()
        .group::<crate::config::PeriodicTaskOptions>()?
        .periodic_max_concurrent;
    let most = match configured {
        0 => timing.max_concurrent,
        n => usize::try_from(n).unwrap_or(usize::MAX),
    };
    Ok(most.max(1))
}

/// Clears the driving flag however `drive` ends.
struct NotDriving<'a>(&'a super::shared::DriverShared);

impl Drop for NotDriving<'_> {
    fn drop(&mut self) {
        self.0.set_driving(false);
    }
}

/// Builds the scheduler for a service's declared tasks, honouring the
/// `run_external_periodic_tasks` option.
pub(crate) fn scheduler_for<S: ?Sized>(
    owner: &str,
    cx: &Context,
    declared: Vec<PeriodicTask<S>>,
) -> Result<PeriodicTasks<S>> {
    let mut tasks = PeriodicTasks::new(owner).run_external_tasks(run_external_tasks(cx.conf())?);
    let uncoordinated = crate::coordination::current().is_none();
    for task in declared {
        if uncoordinated && task.spec().scope_value() == super::Scope::Cluster {
            tracing::warn!(
                task = %format!("{owner}.{}", task.spec().name()),
                "cluster-scoped periodic task runs on every host: [coordination] backend_url is not set"
            );
        }
        tasks.add_periodic_task(task);
    }
    tasks.configure(cx.conf())?;
    Ok(tasks)
}

/// Reads, once, every option the declared tasks of `S` take a setting from: what a
/// service's start checks, so that an option of a group the program did not register
/// fails the start, saying which task and option, rather than the task.
pub fn check_task_options<S: PeriodicTaskRegistry>(cx: &Context) -> Result<()> {
    for task in S::periodic_tasks() {
        task.spec().interval_in(cx.conf())?;
    }
    Ok(())
}

/// The `run` hook `#[oslo::service]` generates: drives the declared periodic tasks, and
/// those added at run time, until the service stops.
pub async fn run_declared<S>(service: &S, cx: &Context, owner: &str, timing: Timing) -> Result<()>
where
    S: PeriodicTaskRegistry + Sync + 'static,
{
    let tasks = scheduler_for(owner, cx, S::periodic_tasks())?;
    drive(service, cx, tasks, timing, fastrand::Rng::new()).await
}
