//! What operators can read about each periodic task.

use std::time::Duration;

use tokio::time::Instant;

use super::spec::PeriodicTaskSpec;

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
    /// The spacing in force: `None` while its `enabled` option switches it off.
    pub spacing: Option<Duration>,
    /// The option the spacing comes from, as `group.option`, if it comes from one.
    pub spacing_from: Option<String>,
    /// The option that switches it on and off, as `group.option`, if one does.
    pub enabled_from: Option<String>,
}

impl TaskStats {
    pub(crate) fn new(spec: &PeriodicTaskSpec) -> Self {
        let qualified = |group: &str, option: &str| format!("{group}.{option}");
        TaskStats {
            name: spec.name().to_owned(),
            // A spacing an option gives is known once the option is read.
            spacing: spec
                .spacing_source()
                .is_none()
                .then(|| spec.spacing_value().interval())
                .flatten(),
            spacing_from: spec
                .spacing_source()
                .map(|option| qualified(option.group(), option.option())),
            enabled_from: spec
                .enabled_source()
                .map(|option| qualified(option.group(), option.option())),
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
