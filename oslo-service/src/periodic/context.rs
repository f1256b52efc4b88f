//! What a service's [`Context`] offers about its periodic tasks. The methods are the
//! context's own, but they live here, above the service layer, so that the context knows
//! nothing of periodic tasks: their shared record is one of its attachments.

use super::admission::{admit, run_external_tasks};
use super::shared::DriverShared;
use super::spec::PeriodicTask;
use super::stats::TaskStats;
use crate::error::Result;
use crate::service::Context;

impl Context {
    /// The record of each periodic task of this service, as of its last tick.
    pub fn periodic_task_stats(&self) -> Vec<TaskStats> {
        self.attachment::<DriverShared>().stats()
    }

    /// Adds a periodic task to this running service; returns whether it was enabled (a
    /// negative spacing, `enabled = false`, or an external task while
    /// `run_external_periodic_tasks` is false leave it out, logged). The task joins
    /// the ones `#[oslo::service]` drives for a service of type `S`. A bad value of
    /// `run_external_periodic_tasks` is an error.
    ///
    /// ```
    /// use oslo::periodic::{PeriodicTask, PeriodicTaskSpec, Spacing};
    ///
    /// struct Poller;
    /// let cx = oslo::Context::new("poller", oslo::Config::default());
    /// let task = |spacing| PeriodicTask::new(PeriodicTaskSpec::new("extra").spacing(spacing), |_: &Poller, _| Box::pin(async { Ok(()) }));
    /// assert!(cx.add_periodic_task(task(Spacing::Default))?);
    /// assert!(!cx.add_periodic_task(task(Spacing::Negative))?);
    /// # Ok::<(), oslo::Error>(())
    /// ```
    pub fn add_periodic_task<S: 'static>(&self, task: PeriodicTask<S>) -> Result<bool> {
        if !admit(task.spec(), run_external_tasks(self.conf())?) {
            return Ok(false);
        }
        self.attachment::<DriverShared>().add(task);
        Ok(true)
    }

    /// Runs this service's periodic task `name` once, now, outside its schedule, in the
    /// task that drives the others (so it never overlaps them); its run counts in the
    /// stats. An error says why it did not run or how it failed.
    pub async fn run_periodic_task_now(&self, name: &str) -> std::result::Result<(), String> {
        let Some(answered) = self.attachment::<DriverShared>().request_run(name) else {
            return Err(format!(
                "service {} runs no periodic tasks",
                self.service_name()
            ));
        };
        answered
            .await
            .unwrap_or_else(|_| Err("the service stopped before the task ran".to_owned()))
    }

    /// What this service shares with its periodic-task driver.
    pub(super) fn driver_shared(&self) -> std::sync::Arc<DriverShared> {
        self.attachment::<DriverShared>()
    }
}
