//! What a running service's context shares with its periodic-task driver: the stats the
//! driver publishes, and the tasks added at run time for the driver to pick up.

use std::any::Any;
use std::sync::Mutex;

use tokio::sync::Notify;

use super::spec::PeriodicTask;
use super::stats::TaskStats;

/// A task added at run time, typed as `PeriodicTask<S>` for the service's `S`.
type AddedTask = Box<dyn Any + Send>;

#[derive(Default)]
pub(crate) struct DriverShared {
    stats: Mutex<Vec<TaskStats>>,
    added: Mutex<Vec<AddedTask>>,
    wake: Notify,
}

impl DriverShared {
    pub(crate) fn stats(&self) -> Vec<TaskStats> {
        self.stats
            .lock()
            .map(|stats| stats.clone())
            .unwrap_or_default()
    }

    pub(crate) fn publish(&self, stats: Vec<TaskStats>) {
        if let Ok(mut published) = self.stats.lock() {
            *published = stats;
        }
    }

    pub(crate) fn add<S: 'static>(&self, task: PeriodicTask<S>) {
        if let Ok(mut added) = self.added.lock() {
            added.push(Box::new(task));
        }
        self.wake.notify_one();
    }

    /// Completes when a task was added since the last [`DriverShared::take_added`].
    pub(crate) async fn added(&self) {
        self.wake.notified().await
    }

    /// The tasks added so far that are of type `PeriodicTask<S>`; others are logged and
    /// dropped.
    pub(crate) fn take_added<S: 'static>(&self) -> Vec<PeriodicTask<S>> {
        let added = self
            .added
            .lock()
            .map(|mut added| std::mem::take(&mut *added))
            .unwrap_or_default();
        added
            .into_iter()
            .filter_map(|task| match task.downcast::<PeriodicTask<S>>() {
                Ok(task) => Some(*task),
                Err(_) => {
                    tracing::error!(
                        service = std::any::type_name::<S>(),
                        "a periodic task added at run time is for another service type; dropped"
                    );
                    None
                }
            })
            .collect()
    }
}

impl std::fmt::Debug for DriverShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DriverShared").finish_non_exhaustive()
    }
}
