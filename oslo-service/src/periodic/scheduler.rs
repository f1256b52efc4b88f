//! `run_periodic_tasks`: run every due task once, in definition order, and say how long
//! the caller may sleep. Due tasks come off a heap ordered by due time, so a tick costs
//! the same whatever the number of tasks that are not due.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use tokio::time::Instant;

use super::admission::admit;
use super::spec::{DEFAULT_INTERVAL, PeriodicTask, Scope};
use super::stats::TaskStats;
use crate::error::{Error, Result};
use crate::future::BoxFuture;
use crate::service::Context;

/// The periodic tasks of one service and when each is due: oslo.service's
/// `PeriodicTasks`.
///
/// ```
/// use std::time::Duration;
/// use oslo::periodic::{PeriodicTask, PeriodicTaskSpec, PeriodicTasks, Spacing};
///
/// struct Poller;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> oslo::Result<()> {
/// let mut tasks = PeriodicTasks::new("Poller");
/// let spec = PeriodicTaskSpec::new("poll")
///     .spacing(Spacing::Every(Duration::from_secs(10)))
///     .run_immediately(true);
/// assert!(tasks.add_periodic_task(PeriodicTask::new(spec, |_: &Poller, _cx| Box::pin(async { Ok(()) }))));
///
/// let cx = oslo::Context::new("poller", oslo::Config::default());
/// let idle_for = tasks.run_periodic_tasks(&Poller, &cx, false).await?;
/// assert_eq!(tasks.stats()[0].runs, 1);
/// assert!(idle_for <= Duration::from_secs(10));
/// # Ok(()) }
/// ```
pub struct PeriodicTasks<S: ?Sized> {
    owner: String,
    tasks: Vec<ScheduledTask<S>>,
    /// Due time and index of every enabled task, earliest first.
    queue: BinaryHeap<Reverse<(Instant, usize)>>,
    shortest_spacing: Duration,
    run_external: bool,
    rng: fastrand::Rng,
}

struct ScheduledTask<S: ?Sized> {
    task: PeriodicTask<S>,
    spacing: Duration,
    last_run: Option<Instant>,
    stats: TaskStats,
}

impl<S: ?Sized> PeriodicTasks<S> {
    /// No tasks yet. `owner` (the service type's name) prefixes task names in logs:
    /// `Poller.poll`.
    pub fn new(owner: impl Into<String>) -> Self {
        PeriodicTasks {
            owner: owner.into(),
            tasks: Vec::new(),
            queue: BinaryHeap::new(),
            shortest_spacing: DEFAULT_INTERVAL,
            run_external: true,
            rng: fastrand::Rng::new(),
        }
    }

    /// Uses `rng` for the jitter, so tests can seed it.
    pub fn with_rng(mut self, rng: fastrand::Rng) -> Self {
        self.rng = rng;
        self
    }

    /// Whether tasks marked `external_process_ok` run here: the
    /// `run_external_periodic_tasks` option. Applies to tasks added afterwards.
    pub fn run_external_tasks(mut self, run_external: bool) -> Self {
        self.run_external = run_external;
        self
    }

    /// Adds a task; returns whether it was enabled. A negative spacing, `enabled =
    /// false`, or an external task while external tasks do not run here leave it out,
    /// with a log line saying why.
    pub fn add_periodic_task(&mut self, task: PeriodicTask<S>) -> bool {
        if !admit(&task.spec, self.run_external) {
            return false;
        }
        let name = task.spec.name();
        let Some(spacing) = task.spec.spacing_value().interval() else {
            return false;
        };
        let now = Instant::now();
        let last_run = (!task.spec.runs_immediately()).then_some(now);
        let index = self.tasks.len();
        self.queue
            .push(Reverse((last_run.map_or(now, |at| at + spacing), index)));
        self.shortest_spacing = self.shortest_spacing.min(spacing);
        self.tasks.push(ScheduledTask {
            stats: TaskStats::new(name),
            task,
            spacing,
            last_run,
        });
        true
    }

    /// How many tasks are enabled.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether no task is enabled.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Each enabled task's record: runs, failures, last duration and error, next due.
    pub fn stats(&self) -> Vec<TaskStats> {
        let mut stats: Vec<TaskStats> = self.tasks.iter().map(|task| task.stats.clone()).collect();
        for Reverse((due, index)) in &self.queue {
            stats[*index].next_due = Some(*due);
        }
        stats
    }

    /// Runs every due task once, in the order they were added, and returns how long
    /// until the next one is due (at most 60 s, and at most the shortest spacing). A
    /// task's error is logged (`periodic task failed`, with `task = <Owner>.<task>`) and the others still run;
    /// with `raise_on_error` the error is returned at once instead.
    pub async fn run_periodic_tasks(
        &mut self,
        service: &S,
        cx: &Context,
        raise_on_error: bool,
    ) -> Result<Duration>
    where
        S: Sync,
    {
        let mut due = self.take_due(Instant::now());
        due.sort_unstable();
        for (position, &index) in due.iter().enumerate() {
            let done = self.start(index, service, cx).await;
            if let Err(err) = self.finish(done) {
                let full_name = self.full_name(index);
                if raise_on_error {
                    for &rest in &due[position + 1..] {
                        let at = self.due_after(rest);
                        self.queue.push(Reverse((at, rest)));
                    }
                    return Err(Error::msg(format!("error during {full_name}: {err}")));
                }
                tracing::error!(task = %full_name, error = %err, "periodic task failed");
            }
        }
        Ok(self.until_next())
    }

    /// How long until the next task is due (at most 60 s, and at most the shortest
    /// spacing).
    pub(crate) fn until_next(&self) -> Duration {
        let until_next = self
            .queue
            .peek()
            .map_or(DEFAULT_INTERVAL, |Reverse((at, _))| {
                at.saturating_duration_since(Instant::now())
            });
        until_next.min(self.shortest_spacing).min(DEFAULT_INTERVAL)
    }

    /// Runs the task `name` once, now, outside its schedule (its next run stays when it
    /// was due), and records the run in its stats; `None` when there is no such task. A
    /// cluster task claims the current period first, as a scheduled run does: when
    /// another host has it, or no claim can be made, it does not run and the error says
    /// why.
    pub(crate) async fn run_now(
        &mut self,
        name: &str,
        service: &S,
        cx: &Context,
    ) -> Option<std::result::Result<(), String>> {
        let index = self.tasks.iter().position(|t| t.task.spec.name() == name)?;
        let full_name = self.full_name(index);
        let mut claimed = None;
        if self.tasks[index].task.spec.scope_value() == Scope::Cluster {
            let every = self.tasks[index].spacing;
            match crate::coordination::may_run_cluster_task(&full_name, every).await {
                Ok(period) => claimed = period,
                Err(why) => return Some(Err(format!("not run: {why}"))),
            }
        }
        let run = std::sync::Arc::clone(&self.tasks[index].task.run);
        tracing::info!(task = %full_name, period = ?claimed, "running periodic task on request");
        let started = Instant::now();
        let outcome = crate::coordination::with_claimed_period(claimed, run(service, cx)).await;
        crate::metrics::periodic_ran(&full_name, started.elapsed(), outcome.is_err());
        self.tasks[index]
            .stats
            .record(started.elapsed(), outcome.as_ref().err());
        Some(outcome.map_err(|err| err.to_string()))
    }

    /// Puts a due task back as due: no room to run it now.
    pub(crate) fn keep_due(&mut self, index: usize, now: Instant) {
        self.queue.push(Reverse((now, index)));
    }

    /// `Owner.task` of task `index`.
    pub(crate) fn name_of(&self, index: usize) -> String {
        self.full_name(index)
    }

    pub(crate) fn take_due(&mut self, now: Instant) -> Vec<usize> {
        let mut due = Vec::new();
        while let Some(&Reverse((at, index))) = self.queue.peek() {
            if at > now {
                break;
            }
            self.queue.pop();
            due.push(index);
        }
        due
    }

    /// `Owner.task`, as logs and errors name a task.
    fn full_name(&self, index: usize) -> String {
        format!("{}.{}", self.owner, self.tasks[index].task.spec.name())
    }

    fn due_after(&self, index: usize) -> Instant {
        let scheduled = &self.tasks[index];
        scheduled
            .last_run
            .map_or_else(Instant::now, |at| at + scheduled.spacing)
    }

    /// Starts task `index`, just taken off the queue as due: its run time is recorded
    /// now, and the future returned runs it (a cluster task claims its period first; a
    /// `timeout` cancels a run that takes longer). Hand what it comes to to
    /// [`PeriodicTasks::finish`].
    pub(crate) fn start<'a>(
        &mut self,
        index: usize,
        service: &'a S,
        cx: &'a Context,
    ) -> BoxFuture<'a, Finished>
    where
        S: Sync,
    {
        let jitter = jitter(self.tasks[index].spacing, &mut self.rng);
        let full_name = self.full_name(index);
        let scheduled = &mut self.tasks[index];
        let started = Instant::now();
        scheduled.last_run = Some(nearest_boundary(
            scheduled.last_run,
            scheduled.spacing,
            started,
            jitter,
        ));
        let run = std::sync::Arc::clone(&scheduled.task.run);
        let cluster = scheduled.task.spec.scope_value() == Scope::Cluster;
        let every = scheduled.spacing;
        let timeout = scheduled.task.spec.timeout_value();
        Box::pin(async move {
            let mut claimed = None;
            if cluster {
                match crate::coordination::may_run_cluster_task(&full_name, every).await {
                    Ok(period) => claimed = period,
                    Err(why) => {
                        let outcome = Ran::Skipped(why);
                        let took = started.elapsed();
                        return Finished {
                            index,
                            took,
                            outcome,
                        };
                    }
                }
            }
            tracing::debug!(task = %full_name, "running periodic task");
            let work = crate::coordination::with_claimed_period(claimed, run(service, cx));
            let outcome = match timeout {
                Some(limit) => match tokio::time::timeout(limit, work).await {
                    Ok(outcome) => Ran::Done(outcome),
                    Err(_) => Ran::TimedOut(limit),
                },
                None => Ran::Done(work.await),
            };
            Finished {
                index,
                took: started.elapsed(),
                outcome,
            }
        })
    }

    /// Records what a run came to and puts its task back on its schedule; the error
    /// of a run that failed or timed out (the caller logs it).
    pub(crate) fn finish(&mut self, done: Finished) -> Result<()> {
        let index = done.index;
        // Its next period; one that ran past its next run time skips the periods it
        // overran, and stays on its grid.
        let mut next = self.due_after(index);
        let now = Instant::now();
        if next <= now {
            let scheduled = &self.tasks[index];
            next = nearest_boundary(scheduled.last_run, scheduled.spacing, now, Duration::ZERO)
                + scheduled.spacing;
        }
        self.queue.push(Reverse((next, index)));
        let full_name = self.full_name(index);
        let stats = &mut self.tasks[index].stats;
        match done.outcome {
            Ran::Done(outcome) => {
                crate::metrics::periodic_ran(&full_name, done.took, outcome.is_err());
                stats.record(done.took, outcome.as_ref().err());
                outcome
            }
            Ran::Skipped(why) => {
                tracing::debug!(task = %full_name, reason = %why, "skipping cluster task");
                crate::metrics::periodic_skipped(&full_name);
                stats.skipped += 1;
                Ok(())
            }
            Ran::TimedOut(limit) => {
                let err = Error::msg(format!(
                    "timed out after {}",
                    humantime::format_duration(limit)
                ));
                crate::metrics::periodic_ran(&full_name, done.took, true);
                stats.record(done.took, Some(&err));
                Err(err)
            }
        }
    }

    /// Puts a due task off to its next period: it is still running (a task never
    /// overlaps itself), or no room is left to run it now.
    pub(crate) fn put_off(&mut self, index: usize, now: Instant) {
        let scheduled = &self.tasks[index];
        let next = scheduled.last_run.map_or(now + scheduled.spacing, |last| {
            nearest_boundary(Some(last), scheduled.spacing, now, Duration::ZERO) + scheduled.spacing
        });
        self.queue.push(Reverse((next, index)));
    }
}

/// What one run of a task came to.
pub(crate) struct Finished {
    pub(crate) index: usize,
    took: Duration,
    outcome: Ran,
}

enum Ran {
    Done(Result<()>),
    /// A cluster task another host runs (or that could not be claimed), and why.
    Skipped(String),
    TimedOut(Duration),
}

impl<S: ?Sized> std::fmt::Debug for PeriodicTasks<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeriodicTasks")
            .field("owner", &self.owner)
            .field("tasks", &self.tasks.len())
            .finish_non_exhaustive()
    }
}

/// The run time recorded for a task: the latest multiple of `spacing` since its last run,
/// plus `jitter`, so that runs stay on a grid however late a tick comes.
pub(crate) fn nearest_boundary(
    last_run: Option<Instant>,
    spacing: Duration,
    now: Instant,
    jitter: Duration,
) -> Instant {
    let Some(last_run) = last_run else {
        return now;
    };
    let since = now.saturating_duration_since(last_run);
    let offset = since.as_nanos() % spacing.as_nanos().max(1);
    // The offset is below `spacing`, a Duration, so it fits in u64 nanoseconds.
    now - Duration::from_nanos(u64::try_from(offset).unwrap_or(0)) + jitter
}

/// Whole seconds from 0 up to 5 % of `spacing`: spacings under 20 s get none.
pub(crate) fn jitter(spacing: Duration, rng: &mut fastrand::Rng) -> Duration {
    Duration::from_secs((spacing.as_secs_f64() * rng.f64() / 20.0) as u64)
}
