//! Tasks and timers started, stopped and waited for together: oslo.service's
//! `ThreadGroup`, on tokio tasks.

use std::collections::HashMap;
use std::fmt::{self, Debug, Display};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::{AbortHandle, JoinHandle};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::future::BoxFuture;
use crate::looping::{
    Dynamic, FixedInterval, LoopingCall, LoopingCallError, LoopingCallHandle, Pacing, Stopper,
};

/// How many tasks a group runs before it warns, as oslo.service's `ThreadGroup`.
pub const DEFAULT_SIZE: usize = 10;

/// How often [`TaskGroup::cancel`] checks whether the tasks are gone, as oslo.service.
pub const DEFAULT_CANCEL_WAIT_TIME: Duration = Duration::from_secs(1);

/// A group of tasks and timers: oslo.service's `ThreadGroup`. Cheap to clone; clones
/// share the group.
///
/// Tasks are tokio tasks started with [`TaskGroup::add_task`]; timers are looping calls
/// started with [`TaskGroup::add_timer`] and [`TaskGroup::add_dynamic_timer`]. The
/// group stops them gracefully (timers stop, tasks finish) or not (tasks are aborted),
/// waits for them, or asks them to end through its cancellation token. A task that
/// stops or waits for its own group never waits on, nor aborts, itself.
///
/// The size is a soft limit: adding a task to a full group logs "task group size
/// exhausted" and starts it all the same (tokio tasks are cheap; the Python pool would
/// block the caller instead).
///
/// | oslo.service `ThreadGroup`                  | here                                            |
/// |---------------------------------------------|-------------------------------------------------|
/// | `ThreadGroup(thread_pool_size=10)`          | [`TaskGroup::new`], [`TaskGroup::with_size`]    |
/// | `add_thread(fn, *args)`                     | [`TaskGroup::add_task`]                         |
/// | `add_timer(interval, fn, initial_delay)`    | [`TaskGroup::add_timer`] with a [`FixedInterval`] |
/// | `add_dynamic_timer(fn, initial_delay, max)` | [`TaskGroup::add_dynamic_timer`] with a [`Dynamic`] |
/// | `stop_timers(wait)`                         | [`TaskGroup::stop_timers`], then [`TaskGroup::wait_timers`] |
/// | `stop(graceful)`                            | [`TaskGroup::stop`]                             |
/// | `wait()`                                    | [`TaskGroup::wait`]                             |
/// | `cancel(timeout, wait_time)`                | [`TaskGroup::cancel`] (cooperative, through [`TaskGroup::cancellation_token`]) |
///
/// ```
/// use std::ops::ControlFlow;
/// use std::time::Duration;
/// use oslo::TaskGroup;
/// use oslo::looping::FixedInterval;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> oslo::Result<()> {
/// let group = TaskGroup::new();
/// let token = group.cancellation_token();
/// group.add_task(async move { token.cancelled().await });
/// group.add_timer(FixedInterval::every(Duration::from_secs(60)), || async {
///     Ok::<_, oslo::Error>(ControlFlow::<(), ()>::Continue(()))
/// })?;
///
/// group.cancel(Some(Duration::from_secs(5)), Duration::from_secs(1)).await;
/// group.stop(true).await;
/// assert_eq!(group.task_count(), 0);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct TaskGroup {
    inner: Arc<Inner>,
}

struct Inner {
    size: usize,
    /// Cancelled by [`TaskGroup::cancel`]; tasks watch it to end cooperatively.
    token: CancellationToken,
    next_key: AtomicU64,
    /// The running tasks. An entry is `None` between the spawn and the moment its
    /// abort handle is filled in.
    tasks: Mutex<HashMap<u64, Option<AbortHandle>>>,
    /// Signalled each time a task ends.
    task_ended: Notify,
    timers: Mutex<Vec<Box<dyn Timer>>>,
}

impl Debug for TaskGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGroup")
            .field("size", &self.inner.size)
            .field("tasks", &self.task_count())
            .field("timers", &lock(&self.inner.timers).len())
            .field("cancelled", &self.inner.token.is_cancelled())
            .finish()
    }
}

impl Default for TaskGroup {
    fn default() -> Self {
        Self::new()
    }
}

impl TaskGroup {
    /// An empty group of [`DEFAULT_SIZE`] tasks.
    pub fn new() -> Self {
        Self::with_size(DEFAULT_SIZE)
    }

    /// An empty group that warns past `size` running tasks.
    pub fn with_size(size: usize) -> Self {
        Self::build(size, CancellationToken::new())
    }

    /// An empty group whose cancellation token is a child of `parent`: cancelling
    /// `parent` cancels the group's token too (but not the other way round).
    pub fn with_parent(size: usize, parent: &CancellationToken) -> Self {
        Self::build(size, parent.child_token())
    }

    fn build(size: usize, token: CancellationToken) -> Self {
        TaskGroup {
            inner: Arc::new(Inner {
                size,
                token,
                next_key: AtomicU64::new(0),
                tasks: Mutex::default(),
                task_ended: Notify::new(),
                timers: Mutex::default(),
            }),
        }
    }

    /// How many tasks the group runs before it warns.
    pub fn size(&self) -> usize {
        self.inner.size
    }

    /// How many tasks are running (timers not counted).
    pub fn task_count(&self) -> usize {
        lock(&self.inner.tasks).len()
    }

    /// How many timers the group holds, stopped or not, until [`TaskGroup::wait`] or
    /// [`TaskGroup::wait_timers`] reaps them.
    pub fn timer_count(&self) -> usize {
        lock(&self.inner.timers).len()
    }

    /// A token cancelled by [`TaskGroup::cancel`] (and by the parent's, see
    /// [`TaskGroup::with_parent`]): tasks select on it to end when asked.
    pub fn cancellation_token(&self) -> CancellationToken {
        self.inner.token.clone()
    }

    /// Runs `task` on the runtime as part of the group: oslo.service's `add_thread`.
    /// Warns "task group size exhausted" when the group already runs `size` tasks.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, as `tokio::spawn` does.
    pub fn add_task<F>(&self, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let key = self.inner.next_key.fetch_add(1, Ordering::Relaxed);
        let running = {
            let mut tasks = lock(&self.inner.tasks);
            tasks.insert(key, None);
            tasks.len() - 1
        };
        if running >= self.inner.size {
            tracing::warn!(size = self.inner.size, running, "task group size exhausted");
        }
        // The guard travels in the task's future, so it deregisters the task however
        // the future ends: completed, panicked, aborted, or dropped before its first poll.
        let registration = Registration {
            key,
            inner: Arc::clone(&self.inner),
        };
        // The task logs inside the span it was added from (a worker's, say).
        let handle = tokio::spawn(tracing::Instrument::in_current_span(async move {
            let _registration = registration;
            task.await
        }));
        if let Some(slot) = lock(&self.inner.tasks).get_mut(&key) {
            *slot = Some(handle.abort_handle());
        }
        handle
    }

    /// Runs `function` as a fixed interval looping call owned by the group:
    /// oslo.service's `add_timer`. The returned [`Stopper`] stops it alone.
    pub fn add_timer<F, Fut, T, E>(
        &self,
        pacing: FixedInterval,
        function: F,
    ) -> Result<Stopper, LoopingCallError<E>>
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = Result<ControlFlow<T, ()>, E>> + Send + 'static,
        T: Send + 'static,
        E: Display + Send + 'static,
    {
        self.add_looping_call(pacing, function)
    }

    /// Runs `function` as a dynamic looping call owned by the group: oslo.service's
    /// `add_dynamic_timer`.
    pub fn add_dynamic_timer<F, Fut, T, E>(
        &self,
        pacing: Dynamic,
        function: F,
    ) -> Result<Stopper, LoopingCallError<E>>
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = Result<ControlFlow<T, Option<Duration>>, E>> + Send + 'static,
        T: Send + 'static,
        E: Display + Send + 'static,
    {
        self.add_looping_call(pacing, function)
    }

    /// Runs `function` as a looping call of any kind owned by the group.
    pub fn add_looping_call<P, F, Fut, T, E>(
        &self,
        pacing: P,
        function: F,
    ) -> Result<Stopper, LoopingCallError<E>>
    where
        P: Pacing,
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = Result<ControlFlow<T, P::Continue>, E>> + Send + 'static,
        T: Send + 'static,
        E: Display + Send + 'static,
    {
        let handle = LoopingCall::new(function).start(pacing)?;
        let stopper = handle.stopper();
        lock(&self.inner.timers).push(Box::new(handle));
        Ok(stopper)
    }

    /// Stops every timer after its current run. They stay in the group until
    /// [`TaskGroup::wait_timers`] or [`TaskGroup::wait`] waits for them.
    pub fn stop_timers(&self) {
        for timer in lock(&self.inner.timers).iter() {
            timer.stop();
        }
    }

    /// Waits for every timer to end (they must have been stopped, or end by
    /// themselves); their errors are logged.
    pub async fn wait_timers(&self) {
        let timers = std::mem::take(&mut *lock(&self.inner.timers));
        for timer in timers {
            timer.finished().await;
        }
    }

    /// Stops the group: stops the timers, then, when `graceful`, waits for the tasks to
    /// finish; otherwise aborts them and waits until they are gone. The calling task,
    /// if it belongs to the group, is neither aborted nor waited for.
    pub async fn stop(&self, graceful: bool) {
        self.stop_timers();
        if !graceful {
            self.abort_tasks();
        }
        self.wait_tasks().await;
    }

    /// Waits for the timers, then for the tasks (but never for the calling task).
    pub async fn wait(&self) {
        self.wait_timers().await;
        self.wait_tasks().await;
    }

    /// Asks the tasks to end by cancelling the group's token. With a `timeout`, then
    /// waits for them, checking every `wait_time`, and at the first check past the
    /// timeout stops the group without grace.
    pub async fn cancel(&self, timeout: Option<Duration>, wait_time: Duration) {
        self.inner.token.cancel();
        let Some(timeout) = timeout else {
            return;
        };
        let deadline = Instant::now() + timeout;
        loop {
            if Instant::now() >= deadline {
                tracing::debug!("cancel timeout reached, stopping tasks");
                self.stop(false).await;
                return;
            }
            tracing::debug!(
                timeout_secs = timeout.as_secs_f64(),
                "cancel timeout not yet reached, waiting"
            );
            tokio::select! {
                () = self.wait_tasks() => return,
                () = tokio::time::sleep(wait_time) => {}
            }
        }
    }

    /// Aborts every task but the calling one.
    fn abort_tasks(&self) {
        let current = tokio::task::try_id();
        for handle in lock(&self.inner.tasks).values().flatten() {
            if Some(handle.id()) != current {
                handle.abort();
            }
        }
    }

    /// Waits until no task but the calling one runs.
    async fn wait_tasks(&self) {
        let current = tokio::task::try_id();
        loop {
            let ended = self.inner.task_ended.notified();
            tokio::pin!(ended);
            // Registered before looking, so an end between the look and the await is
            // not missed.
            ended.as_mut().enable();
            let others_running = lock(&self.inner.tasks).values().any(|handle| {
                handle
                    .as_ref()
                    .is_none_or(|handle| Some(handle.id()) != current)
            });
            if !others_running {
                return;
            }
            ended.await;
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section is a single insert, remove or read, so the data is
    // consistent even if a holder panicked.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Removes a task from its group when the task's future is dropped.
struct Registration {
    key: u64,
    inner: Arc<Inner>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        lock(&self.inner.tasks).remove(&self.key);
        self.inner.task_ended.notify_waiters();
    }
}

/// A looping call of any result type, as the group keeps it.
trait Timer: Send {
    fn stop(&self);
    fn finished(self: Box<Self>) -> BoxFuture<'static, ()>;
}

impl<T, E> Timer for LoopingCallHandle<T, E>
where
    T: Send + 'static,
    E: Display + Send + 'static,
{
    fn stop(&self) {
        LoopingCallHandle::stop(self);
    }

    fn finished(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            if let Err(error) = self.wait().await {
                tracing::error!(%error, "error waiting on timer");
            }
        })
    }
}
