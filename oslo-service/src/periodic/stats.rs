//! What operators can read about each periodic task.

use std::time::Duration;

use tokio::time::Instant;

/// The record of one periodic task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskStats {
    /// The task's name.
    pub name: String,
    /// How many times it ran.
    pub runs: u64,
    /// How many of those runs failed.
    pub failures: u64,
    /// How many times a cluster-scoped task was due here and another host ran it (or
    /// this one could not claim it).
    pub skipped: u64,
    /// How long the last run took.
    pub last_duration: Option<Duration>,
    /// The last run's error, if it failed.
    pub last_error: Option<String>,
    /// When it is next due.
    pub next_due: Option<Instant>,
}

impl TaskStats {
    pub(crate) fn new(name: &str) -> Self {
        TaskStats {
            name: name.to_owned(),
            runs: 0,
            failures: 0,
            skipped: 0,
            last_duration: None,
            last_error: None,
            next_due: None,
        }
    }

    pub(crate) fn record(&mut self, took: Duration, error: Option<&crate::Error>) {
        self.runs += 1;
        self.last_duration = Some(took);
        self.last_error = error.map(ToString::to_string);
        if error.is_some() {
            self.failures += 1;
        }
    }
}
