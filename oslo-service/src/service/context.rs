//! [`Context`]: what a running service sees of its surroundings.

use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::attachments::Attachments;
use crate::config::Config;
use crate::taskgroup::TaskGroup;

/// What a running service sees of its surroundings: its configuration, its shutdown
/// token and its [`TaskGroup`] (oslo.service's `Service.tg`, 1000 tasks before it
/// warns), whose cancellation token is a child of the shutdown token. Cheap to clone.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let cx = oslo::Context::new("demo", oslo::Config::default());
/// let stopped = cx.shutdown_token();
/// cx.spawn(async move { stopped.cancelled().await });
/// cx.shutdown_token().cancel();
/// cx.wait_tasks().await;
/// assert!(cx.is_stopping());
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Context {
    inner: Arc<ContextInner>,
}

#[derive(Debug)]
struct ContextInner {
    service: Arc<str>,
    conf: Config,
    shutdown: CancellationToken,
    tasks: TaskGroup,
    worker: Option<usize>,
    attachments: Attachments,
    abort: CancellationToken,
}

/// How many tasks a service's group runs before it warns, as oslo.service's `Service`.
const SERVICE_TASK_GROUP_SIZE: usize = 1000;

impl Context {
    /// A context for the service `service`, as the launcher builds one before each start.
    pub fn new(service: impl Into<Arc<str>>, conf: Config) -> Self {
        Self::build(service.into(), conf, None)
    }

    pub(crate) fn build(service: Arc<str>, conf: Config, worker: Option<usize>) -> Self {
        let shutdown = CancellationToken::new();
        let tasks = TaskGroup::with_parent(SERVICE_TASK_GROUP_SIZE, &shutdown);
        Context {
            inner: Arc::new(ContextInner {
                service,
                conf,
                shutdown,
                tasks,
                worker,
                attachments: Attachments::default(),
                abort: CancellationToken::new(),
            }),
        }
    }

    /// The name of the service this context belongs to.
    pub fn service_name(&self) -> &str {
        &self.inner.service
    }

    /// The process's configuration; it follows reloads.
    pub fn conf(&self) -> &Config {
        &self.inner.conf
    }

    /// The index of the worker process this service runs in, or `None` when it runs in
    /// the launcher's own process.
    pub fn worker(&self) -> Option<usize> {
        self.inner.worker
    }

    /// A token that is cancelled when the service is asked to stop.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.inner.shutdown.clone()
    }

    /// Whether the service has been asked to stop.
    pub fn is_stopping(&self) -> bool {
        self.inner.shutdown.is_cancelled()
    }

    /// Completes once the service has been asked to stop.
    pub async fn stopped(&self) {
        self.inner.shutdown.cancelled().await
    }

    /// The service's task group: its tasks and timers. A stop request stops the
    /// timers; tasks are expected to end once [`Context::shutdown_token`] is cancelled.
    ///
    /// ```
    /// use std::ops::ControlFlow;
    /// use std::time::Duration;
    /// use oslo::looping::FixedInterval;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> oslo::Result<()> {
    /// let cx = oslo::Context::new("demo", oslo::Config::default());
    /// cx.task_group().add_timer(FixedInterval::every(Duration::from_secs(30)), || async {
    ///     tracing::info!("tick");
    ///     Ok::<_, oslo::Error>(ControlFlow::<(), ()>::Continue(()))
    /// })?;
    /// assert_eq!(cx.task_group().timer_count(), 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn task_group(&self) -> &TaskGroup {
        &self.inner.tasks
    }

    /// Runs `task` on the runtime as part of this service's task group:
    /// [`ServiceBase::wait`](super::ServiceBase::wait) waits for it after a stop.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, as `tokio::spawn` does.
    pub fn spawn<F>(&self, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.inner.tasks.add_task(task)
    }

    /// Waits for the timers and tasks of the service's group (except the calling task).
    pub async fn wait_tasks(&self) {
        self.inner.tasks.wait().await
    }

    /// The state of type `T` that a layer above keeps for this service (the periodic
    /// tasks' shared record, for one), made on first use: the context carries it without
    /// knowing what it is.
    pub(crate) fn attachment<T: Default + Send + Sync + 'static>(&self) -> Arc<T> {
        self.inner.attachments.get_or_default()
    }

    /// Completes once the service is asked to stop at once, without letting work in
    /// progress finish.
    pub async fn aborted(&self) {
        self.inner.abort.cancelled().await
    }

    /// Asks the service to stop at once: cancels the shutdown token and the abort token.
    pub(crate) fn request_abort(&self) {
        self.request_stop();
        self.inner.abort.cancel();
    }

    pub(crate) fn request_stop(&self) {
        self.inner.shutdown.cancel();
        self.inner.tasks.stop_timers();
    }
}

#[cfg(test)]
mod tests {
    use std::ops::ControlFlow;
    use std::time::Duration;

    use super::*;
    use crate::looping::FixedInterval;

    #[tokio::test(start_paused = true)]
    async fn a_stop_request_stops_the_timers_so_waiting_ends() {
        let cx = Context::new("demo", Config::default());
        cx.task_group()
            .add_timer(FixedInterval::every(Duration::from_secs(1)), || async {
                Ok::<_, crate::Error>(ControlFlow::<(), ()>::Continue(()))
            })
            .unwrap();
        let stopped = cx.shutdown_token();
        cx.spawn(async move { stopped.cancelled().await });

        cx.request_stop();
        let waited = tokio::time::timeout(Duration::from_secs(3600), cx.wait_tasks()).await;
        assert!(waited.is_ok(), "the timer kept the service waiting");
        assert_eq!(
            (cx.task_group().task_count(), cx.task_group().timer_count()),
            (0, 0)
        );
    }
}
