//! The checks a service registers for its readiness: each run with its timeout, its
//! answer kept for its cache time, one run at a time however many probes ask.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::report::{Entry, Status};
use crate::error::BoxError;
use crate::future::BoxFuture;

type Run = dyn Fn() -> BoxFuture<'static, Result<(), BoxError>> + Send + Sync;

/// A readiness check of the service's own (a database ping, a queue's connection): its
/// failure fails `/health/ready`, never `/health/live`. Register it with [`register`]
/// before the service launches; it runs in the launcher's top process, which serves
/// the probes.
///
/// ```
/// use std::time::Duration;
///
/// let check = oslo::health::Check::new("queue", || async {
///     Err::<(), oslo::BoxError>("the broker refused the connection".into())
/// })
/// .timeout(Duration::from_secs(1))
/// .cache_for(Duration::from_secs(5));
/// assert_eq!(check.name(), "queue");
/// ```
#[derive(Clone)]
pub struct Check {
    name: String,
    timeout: Duration,
    cache: Duration,
    run: Arc<Run>,
}

impl std::fmt::Debug for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Check")
            .field("name", &self.name)
            .field("timeout", &self.timeout)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl Check {
    /// A check named `name` (shown as `name:check` in the report), passing when `check`
    /// returns `Ok`; an error's text is the report's output. By default it has 5
    /// seconds to answer, and its answer is kept 10 seconds.
    pub fn new<F, Fut, E>(name: impl Into<String>, check: F) -> Check
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError>,
    {
        let run = move || -> BoxFuture<'static, Result<(), BoxError>> {
            let answer = check();
            Box::pin(async move { answer.await.map_err(Into::into) })
        };
        Check {
            name: name.into(),
            timeout: Duration::from_secs(5),
            cache: Duration::from_secs(10),
            run: Arc::new(run),
        }
    }

    /// How long the check has to answer before it counts as failed.
    pub fn timeout(mut self, timeout: Duration) -> Check {
        self.timeout = timeout;
        self
    }

    /// How long an answer stands before the check runs again; zero runs it at every
    /// probe.
    pub fn cache_for(mut self, cache: Duration) -> Check {
        self.cache = cache;
        self
    }

    /// The check's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// A registered check and its last answer.
struct Registered {
    check: Check,
    /// One run at a time: a probe that comes during a run waits for its answer.
    last: tokio::sync::Mutex<Option<(Instant, Entry)>>,
}

static CHECKS: Mutex<Vec<Arc<Registered>>> = Mutex::new(Vec::new());

/// Adds a check to the readiness probe. A check of the same name replaces it.
pub fn register(check: Check) {
    let mut checks = CHECKS.lock().unwrap_or_else(|poison| poison.into_inner());
    checks.retain(|registered| registered.check.name != check.name);
    checks.push(Arc::new(Registered {
        check,
        last: tokio::sync::Mutex::new(None),
    }));
}

/// Every registered check's entry, run (at once) where its answer is older than its
/// cache time.
pub(super) async fn run_all() -> Vec<(String, Entry)> {
    let checks: Vec<Arc<Registered>> = CHECKS
        .lock()
        .unwrap_or_else(|poison| poison.into_inner())
        .clone();
    let runs = checks.iter().map(|registered| async move {
        (
            format!("{}:check", registered.check.name),
            answer(registered).await,
        )
    });
    futures_util::future::join_all(runs).await
}

async fn answer(registered: &Registered) -> Entry {
    let mut last = registered.last.lock().await;
    if let Some((at, entry)) = &*last {
        if at.elapsed() < registered.check.cache {
            return entry.clone();
        }
    }
    let check = &registered.check;
    // In a task of its own, so that a check that panics fails, and is not the probe's
    // end.
    let run = tokio::spawn((check.run)());
    let entry = match tokio::time::timeout(check.timeout, run).await {
        Ok(Ok(Ok(()))) => Entry::new(Status::Pass, SystemTime::now(), "ok".to_owned()),
        // An error may quote a URL with its password: masked as in the logs.
        Ok(Ok(Err(err))) => Entry::new(
            Status::Fail,
            SystemTime::now(),
            crate::config::mask_inline(&err.to_string()).into_owned(),
        ),
        Ok(Err(_panicked)) => Entry::new(
            Status::Fail,
            SystemTime::now(),
            "the check panicked".to_owned(),
        ),
        Err(_elapsed) => Entry::new(
            Status::Fail,
            SystemTime::now(),
            format!(
                "no answer within {}",
                humantime::format_duration(check.timeout)
            ),
        ),
    };
    *last = Some((Instant::now(), entry.clone()));
    entry
}
