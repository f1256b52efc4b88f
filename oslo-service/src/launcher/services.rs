//! The services of one process, started, stopped, waited for and restarted together.

use std::sync::Arc;

use tokio::task::JoinSet;
use tracing::Instrument as _;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::service::{Context, ServiceBase};

/// How a SIGHUP in a daemon applies a new configuration. Also an option's type
/// (`reload` or `mutate`), whose sample config describes each value by its doc comment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, crate::config::OptionValue)]
#[opt(crate = "crate")]
pub enum RestartMethod {
    /// Re-read every option, then stop, `reset()` and start every service again.
    #[default]
    Reload,
    /// Re-read the files and apply only mutable options, then `reset()` every service
    /// in place, without a stop.
    Mutate,
}

impl std::str::FromStr for RestartMethod {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "reload" => Ok(RestartMethod::Reload),
            "mutate" => Ok(RestartMethod::Mutate),
            other => Err(Error::Launch(format!(
                "invalid restart_method '{other}': expected 'reload' or 'mutate'"
            ))),
        }
    }
}

/// The services of one process: oslo.service's `Services`.
///
/// Each service gets a fresh [`Context`] at every start, so a restarted service begins
/// with an uncancelled shutdown token and no leftover tasks.
#[derive(Debug)]
pub struct Services {
    conf: Config,
    worker: Option<usize>,
    entries: Vec<Entry>,
}

#[derive(Clone)]
struct Entry {
    service: Arc<dyn ServiceBase>,
    cx: Context,
    /// What the service's hooks and tasks log under: `service{name=…}`; `None` in a
    /// worker, whose own span already names its one service.
    span: Option<tracing::Span>,
}

impl Entry {
    /// The span to log under, made at the call: in a worker, the worker's.
    fn span(&self) -> tracing::Span {
        self.span.clone().unwrap_or_else(tracing::Span::current)
    }
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("service", &self.service.name())
            .finish_non_exhaustive()
    }
}

impl Services {
    /// No services yet, reading `conf`.
    pub fn new(conf: Config) -> Self {
        Services {
            conf,
            worker: None,
            entries: Vec::new(),
        }
    }

    /// No services yet, in worker process `worker`: every [`Context::worker`] says so.
    pub(super) fn in_worker(conf: Config, worker: usize) -> Self {
        Services {
            conf,
            worker: Some(worker),
            entries: Vec::new(),
        }
    }

    /// Adds a service; it starts with the next [`Services::start`].
    pub fn add(&mut self, service: Arc<dyn ServiceBase>) {
        let cx = self.fresh_context(service.as_ref());
        let span = self
            .worker
            .is_none()
            .then(|| tracing::info_span!("service", name = %service.name()));
        self.entries.push(Entry { service, cx, span });
    }

    /// The context each service runs with now, in the order they were added: where an
    /// operator's tool reads a service's periodic-task stats, for instance.
    pub fn contexts(&self) -> Vec<Context> {
        self.entries.iter().map(|entry| entry.cx.clone()).collect()
    }

    /// How many services there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn fresh_context(&self, service: &dyn ServiceBase) -> Context {
        Context::build(Arc::from(service.name()), self.conf.clone(), self.worker)
    }

    /// Starts every service, each in its own task so that a slow start holds up no
    /// other. When one fails, every service is stopped and the first failure returned,
    /// for the caller to report.
    pub async fn start(&mut self) -> Result<()> {
        let mut starting = JoinSet::new();
        for (index, entry) in self.entries.iter().enumerate() {
            let span = entry.span();
            let Entry { service, cx, .. } = entry.clone();
            starting.spawn(async move { (index, service.start(&cx).await) }.instrument(span));
        }
        let mut first_failure = None;
        while let Some(joined) = starting.join_next().await {
            let (index, outcome) = match joined {
                Ok((index, outcome)) => (index, outcome),
                Err(err) => (
                    usize::MAX,
                    Err(Error::msg(format!("start task failed: {err}"))),
                ),
            };
            match outcome {
                Ok(()) => {
                    let span = self.entries[index].span();
                    let Entry { service, cx, .. } = self.entries[index].clone();
                    span.in_scope(|| tracing::info!("service started"));
                    cx.clone().spawn(
                        async move {
                            if let Err(err) = service.run(&cx).await {
                                tracing::error!(error = %err, "service loop failed");
                            }
                        }
                        .instrument(span),
                    );
                }
                Err(err) => {
                    let service = self
                        .entries
                        .get(index)
                        .map_or("?", |e| e.service.name())
                        .to_owned();
                    if first_failure.is_none() {
                        first_failure = Some(Error::StartFailed {
                            service,
                            error: Box::new(err),
                        });
                    } else {
                        tracing::error!(%service, error = %err, "another service failed to start");
                    }
                }
            }
        }
        match first_failure {
            None => Ok(()),
            Some(failure) => {
                self.stop_now().await;
                Err(failure)
            }
        }
    }

    /// Asks every service to stop: cancels its shutdown token, then runs its `stop`
    /// hook. The hooks run at once, side by side; their errors are logged.
    pub async fn stop(&self) {
        self.each("stop", |service, cx| async move {
            cx.request_stop();
            service.stop(&cx).await
        })
        .await;
    }

    /// Asks every service to stop at once, without letting work in progress finish
    /// (a running periodic task is dropped), then runs its `stop` hook: what a failed
    /// start does to the services that did start.
    pub async fn stop_now(&self) {
        self.each("stop", |service, cx| async move {
            cx.request_abort();
            service.stop(&cx).await
        })
        .await;
    }

    /// Waits until every service has stopped.
    pub async fn wait(&self) {
        self.each("wait", |service, cx| async move { service.wait(&cx).await })
            .await;
    }

    /// Calls every service's `reset` hook; errors are logged and the services go on.
    pub async fn reset(&self) {
        self.each(
            "reset",
            |service, cx| async move { service.reset(&cx).await },
        )
        .await;
    }

    /// Stops and waits for every service, gives each a fresh context, resets it and
    /// starts it again: the `reload` restart. Fails as [`Services::start`] does.
    pub async fn restart(&mut self) -> Result<()> {
        self.stop().await;
        self.wait().await;
        self.restart_stopped().await
    }

    /// The second half of [`Services::restart`], for services already stopped.
    pub async fn restart_stopped(&mut self) -> Result<()> {
        for index in 0..self.entries.len() {
            self.entries[index].cx = self.fresh_context(self.entries[index].service.as_ref());
        }
        self.reset().await;
        self.start().await
    }

    async fn each<F, Fut>(&self, hook: &'static str, call: F)
    where
        F: Fn(Arc<dyn ServiceBase>, Context) -> Fut,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        let mut running = JoinSet::new();
        for entry in &self.entries {
            let call = call(Arc::clone(&entry.service), entry.cx.clone());
            running.spawn(
                async move {
                    if let Err(err) = call.await {
                        tracing::error!(hook, error = %err, "service hook failed");
                    }
                }
                .instrument(entry.span()),
            );
        }
        while let Some(joined) = running.join_next().await {
            if let Err(err) = joined {
                tracing::error!(hook, error = %err, "service hook task failed");
            }
        }
    }
}
