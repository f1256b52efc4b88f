//! What a running service's context shares with its periodic-task driver: the stats the
//! driver publishes, and the tasks added at run time for the driver to pick up.

use std::any::Any;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::{Notify, oneshot};

use super::spec::PeriodicTask;
use super::stats::TaskStats;

/// A task added at run time, typed as `PeriodicTask<S>` for the service's `S`.
type AddedTask = Box<dyn Any + Send>;

/// A request to run one task now: its name, and where the outcome goes.
pub(crate) type RunRequest = (String, oneshot::Sender<Result<(), String>>);

#[derive(Default)]
pub(crate) struct DriverShared {
    stats: Mutex<Vec<TaskStats>>,
    added: Mutex<Vec<AddedTask>>,
    runs: Mutex<Vec<RunRequest>>,
    /// Whether a driver runs the tasks now: without one, nobody would answer a run.
    driving: AtomicBool,
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

    pub(crate) fn set_driving(&self, driving: bool) {
        self.driving.store(driving, Ordering::Relaxed);
    }

    /// Asks the driver to run the task `name` once, now; `None` when no driver runs.
    pub(crate) fn request_run(&self, name: &str) -> Option<oneshot::Receiver<Result<(), String>>> {
        if !self.driving.load(Ordering::Relaxed) {
            return None;
        }
        let (answer, answered) = oneshot::channel();
        if let Ok(mut runs) = self.runs.lock() {
            runs.push((name.to_owned(), answer));
        }
        self.wake.notify_one();
        Some(answered)
    }

    pub(crate) fn take_runs(&self) -> Vec<RunRequest> {
        self.runs
            .lock()
            .map(|mut runs| std::mem::take(&mut *runs))
            .unwrap_or_default()
    }

    /// Completes when a task was added (or a run asked for) since the last
    /// [`DriverShared::take_added`].
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
