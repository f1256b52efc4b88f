//! `run_periodic_tasks`: run every due task once, in definition order, and say how long
//! the caller may sleep. Due tasks come off a heap ordered by due time, so a tick costs
//! the same whatever the number of tasks that are not due.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::admission::admit;
use super::spec::{DEFAULT_INTERVAL, PeriodicTask, Scope};
use super::stats::TaskStats;
use crate::config::{Config, Snapshot};
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
    /// The values the options of the tasks were last read from.
    read_from: Option<Arc<Snapshot>>,
}

struct ScheduledTask<S: ?Sized> {
    task: PeriodicTask<S>,
    /// The spacing in force.
    spacing: Duration,
    /// Whether it runs: always, unless its `enabled` option switches it off.
    on: bool,
    /// A task that takes its spacing or its switch from options, and has not read them
    /// yet: it waits, unscheduled, for [`PeriodicTasks::configure`].
    unread: bool,
    /// Whether a run of it is under way: it is off the queue, and goes back at its end.
    running: bool,
    /// Whether it was ever put on the schedule: one switched off from the start is
    /// scheduled as new when first switched on.
    scheduled_once: bool,
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
            read_from: None,
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
    /// with a log line saying why. A task that takes its spacing or its switch from
    /// options is scheduled once they are read: at the next
    /// [`PeriodicTasks::run_periodic_tasks`] or [`PeriodicTasks::configure`].
    pub fn add_periodic_task(&mut self, task: PeriodicTask<S>) -> bool {
        if !admit(&task.spec, self.run_external) {
            return false;
        }
        let index = self.tasks.len();
        let unread = task.spec.is_configured();
        let spacing = task
            .spec
            .spacing_value()
            .interval()
            .unwrap_or(DEFAULT_INTERVAL);
        self.tasks.push(ScheduledTask {
            stats: TaskStats::new(&task.spec),
            task,
            spacing,
            on: !unread,
            unread,
            running: false,
            scheduled_once: false,
            last_run: None,
        });
        if !unread {
            self.schedule_first(index, Instant::now());
        }
        true
    }

    /// Puts a task on its schedule for the first time: due now when it runs
    /// immediately, one spacing from now otherwise.
    fn schedule_first(&mut self, index: usize, now: Instant) {
        let scheduled = &mut self.tasks[index];
        scheduled.scheduled_once = true;
        scheduled.last_run = (!scheduled.task.spec.runs_immediately()).then_some(now);
        let due = scheduled.last_run.map_or(now, |at| at + scheduled.spacing);
        self.shortest_spacing = self.shortest_spacing.min(scheduled.spacing);
        self.queue.push(Reverse((due, index)));
    }

    /// Reads the options the tasks take their spacing or their switch from, when the
    /// configuration changed since they were last read (a reload) or a task has not
    /// read them yet, and reschedules what changed: a new spacing counts from the
    /// task's last run (due at once when that is already past); a task switched off
    /// leaves the schedule, one switched on is due one spacing after its last run.
    ///
    /// An option that cannot be read leaves its task as it was, with an error: the
    /// first is returned, the others logged.
    pub fn configure(&mut self, conf: &Config) -> Result<()> {
        let snapshot = conf.snapshot();
        let reloaded = !self
            .read_from
            .as_ref()
            .is_some_and(|seen| Arc::ptr_eq(seen, &snapshot));
        let mut first_error = None;
        for index in 0..self.tasks.len() {
            let scheduled = &self.tasks[index];
            if !scheduled.task.spec.is_configured() || !(reloaded || scheduled.unread) {
                continue;
            }
            match scheduled.task.spec.interval_in(conf) {
                Ok(interval) => self.apply(index, interval),
                Err(err) => {
                    self.tasks[index].unread = false;
                    if first_error.is_some() {
                        tracing::error!(task = %self.full_name(index), error = %err, "periodic task keeps its schedule");
                    } else {
                        first_error = Some(err);
                    }
                }
            }
        }
        self.read_from = Some(snapshot);
        if reloaded {
            self.shortest_spacing = self
                .tasks
                .iter()
                .filter(|task| task.on)
                .map(|task| task.spacing)
                .fold(DEFAULT_INTERVAL, Duration::min);
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Gives task `index` the interval its options say (`None`: switched off).
    fn apply(&mut self, index: usize, interval: Option<Duration>) {
        let now = Instant::now();
        let full_name = self.full_name(index);
        let scheduled = &mut self.tasks[index];
        let first = std::mem::take(&mut scheduled.unread);
        let Some(spacing) = interval else {
            if scheduled.on || first {
                let option = scheduled.stats.enabled_from.as_deref().unwrap_or("-");
                tracing::info!(task = %full_name, option, "periodic task switched off by its option");
            }
            scheduled.on = false;
            scheduled.stats.spacing = None;
            self.queue.retain(|Reverse((_, queued))| *queued != index);
            return;
        };
        let (was_on, old_spacing) = (scheduled.on, scheduled.spacing);
        scheduled.on = true;
        scheduled.spacing = spacing;
        scheduled.stats.spacing = Some(spacing);
        self.shortest_spacing = self.shortest_spacing.min(spacing);
        if was_on && old_spacing == spacing {
            return;
        }
        let every = humantime::format_duration(spacing);
        if was_on {
            tracing::info!(task = %full_name, spacing = %every, "periodic task spacing changed");
        } else if !first {
            tracing::info!(task = %full_name, spacing = %every, "periodic task switched on by its option");
        }
        if !scheduled.scheduled_once {
            return self.schedule_first(index, now);
        }
        // A run under way goes back on the schedule at its end, with the new spacing.
        if scheduled.running {
            return;
        }
        self.queue.retain(|Reverse((_, queued))| *queued != index);
        let mut due = self.due_after(index);
        if due <= now {
            // Its next run is already past: it runs now, and its periods count from now.
            self.tasks[index].last_run = None;
            due = now;
        }
        self.queue.push(Reverse((due, index)));
    }

    /// How many tasks run: those added, less those their `enabled` option switches off.
    pub fn len(&self) -> usize {
        self.tasks.iter().filter(|task| task.on).count()
    }

    /// Whether no task runs.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Each task's record: runs, failures, last duration and error, next due, the
    /// spacing in force and the options it comes from.
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
        self.configure(cx.conf())?;
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
        if !self.tasks[index].on {
            let option = self.tasks[index].stats.enabled_from.clone();
            return Some(Err(format!(
                "not run: {full_name} is switched off by {}",
                option.as_deref().unwrap_or("its option")
            )));
        }
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
        let mut span = task_span(&full_name);
        let outcome = crate::coordination::with_claimed_period(claimed, run(service, cx)).await;
        if let (Some(span), Err(err)) = (&mut span, &outcome) {
            span.fail(err.to_string());
        }
        drop(span);
        crate::metrics::periodic_ran(&full_name, started.elapsed(), outcome.is_err());
        self.tasks[index]
            .stats
            .record(started.elapsed(), outcome.as_ref().err());
        Some(outcome.map_err(|err| err.to_string()))
    }

    /// Puts a due task back as due: no room to run it now.
    pub(crate) fn keep_due(&mut self, index: usize, now: Instant) {
        if self.tasks[index].on {
            self.queue.push(Reverse((now, index)));
        }
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
        scheduled.running = true;
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
            let mut span = task_span(&full_name);
            let work = crate::coordination::with_claimed_period(claimed, run(service, cx));
            let outcome = match timeout {
                Some(limit) => match tokio::time::timeout(limit, work).await {
                    Ok(outcome) => Ran::Done(outcome),
                    Err(_) => Ran::TimedOut(limit),
                },
                None => Ran::Done(work.await),
            };
            if let Some(span) = &mut span {
                match &outcome {
                    Ran::Done(Err(err)) => span.fail(err.to_string()),
                    Ran::TimedOut(_) => span.fail("timed out"),
                    _ => {}
                }
            }
            drop(span);
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
        self.tasks[index].running = false;
        // Switched off while it ran: it stays off the schedule.
        if self.tasks[index].on {
            self.queue.push(Reverse((next, index)));
        }
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
        if !scheduled.on {
            return;
        }
        let next = scheduled.last_run.map_or(now + scheduled.spacing, |last| {
            nearest_boundary(Some(last), scheduled.spacing, now, Duration::ZERO) + scheduled.spacing
        });
        self.queue.push(Reverse((next, index)));
    }
}

/// What one run of a task came to.
/// The span of one run of a task, when traced.
fn task_span(full_name: &str) -> Option<crate::otel::Span> {
    let mut span = crate::otel::internal(|name| {
        name.push("periodic ");
        name.push(full_name);
    })?;
    span.text("oslo.periodic_task", full_name);
    Some(span)
}

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
