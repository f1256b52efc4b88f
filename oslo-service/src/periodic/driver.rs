//! The dynamic timer that runs a service's periodic tasks between its start and stop.

use std::time::Duration;

use super::PeriodicTaskRegistry;
use super::admission::run_external_tasks;
use super::scheduler::PeriodicTasks;
use super::spec::PeriodicTask;
use crate::error::Result;
use crate::service::Context;

/// When a service's periodic tasks run: the arguments `periodic_interval_max` and
/// `periodic_fuzzy_delay` of `#[oslo::service]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// The longest sleep between two ticks, whatever the tasks' spacing.
    pub interval_max: Duration,
    /// The first tick comes after a random delay of up to this many whole seconds, so
    /// that many processes started together do not run their tasks together.
    pub fuzzy_delay: Duration,
}

impl Timing {
    /// Ticks at least every 60 s, and the first tick without delay.
    pub const DEFAULT: Timing = Timing {
        interval_max: Duration::from_secs(60),
        fuzzy_delay: Duration::ZERO,
    };
}

impl Default for Timing {
    fn default() -> Self {
        Timing::DEFAULT
    }
}

/// Runs `tasks` until the service is asked to stop: sleeps a random initial delay (drawn
/// from `rng`) up to `timing.fuzzy_delay`, then runs the due tasks and sleeps what
/// [`PeriodicTasks::run_periodic_tasks`] returns, capped by `timing.interval_max`.
///
/// A stop cuts a sleep short and lets a task already running finish; an abort (a stop
/// at once) drops the running task too. Tasks never overlap: one tick runs them one
/// after the other. Tasks added with [`Context::add_periodic_task`] join at once.
pub(crate) async fn drive<S: 'static>(
    service: &S,
    cx: &Context,
    mut tasks: PeriodicTasks<S>,
    timing: Timing,
    mut rng: fastrand::Rng,
) -> Result<()> {
    let shared = cx.driver_shared();
    shared.set_driving(true);
    let _not_driving = NotDriving(&shared);
    let fuzzy_seconds = timing.fuzzy_delay.as_secs();
    let mut sleep_for = Duration::from_secs(rng.u64(0..=fuzzy_seconds));
    loop {
        tokio::select! {
            biased;
            () = cx.stopped() => return Ok(()),
            () = shared.added() => {}
            // With no task, nothing is due: wait for one to be added, without waking.
            () = tokio::time::sleep(sleep_for), if !tasks.is_empty() => {}
        }
        for task in shared.take_added::<S>() {
            tasks.add_periodic_task(task);
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
        let idle_for = tokio::select! {
            biased;
            () = cx.aborted() => return Ok(()),
            idle_for = tasks.run_periodic_tasks(service, cx, false) => idle_for?,
        };
        shared.publish(tasks.stats());
        sleep_for = idle_for.min(timing.interval_max);
    }
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
    Ok(tasks)
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
