//! Coordination when oslo-service is built without its `coordination` feature: what
//! the launchers and the periodic tasks ask of it, answered as when `backend_url` is
//! not set (cluster tasks run on every host). A `backend_url` in the configuration is
//! refused at start and by `--check-config`, naming the feature to turn on, rather than
//! ignored.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, ConfigError, CoordinationOptions, InvalidValue};
use crate::future::BoxFuture;

/// No coordinator can exist in such a build.
#[derive(Clone, Debug)]
pub(crate) enum Coordinator {}

impl Coordinator {
    /// Never called: there is no coordinator to call it on.
    pub(crate) async fn claim(
        &self,
        _task: &str,
        _every: Duration,
    ) -> Result<Option<u64>, Infallible> {
        match *self {}
    }
}

/// How a worker asks its parent to claim a period (the launcher still provides it; no
/// one calls it).
#[allow(dead_code)]
pub(crate) trait AskParent: Send + Sync + std::fmt::Debug {
    /// What the parent's coordinator answers, or why it could not.
    fn claim<'a>(
        &'a self,
        task: &'a str,
        every: Duration,
    ) -> BoxFuture<'a, Result<Option<u64>, String>>;
}

/// Always `None`.
pub(crate) fn current() -> Option<Coordinator> {
    None
}

/// `[coordination]` as a start reads it: no `backend_url`, or an error saying how to
/// get one honoured.
pub(crate) fn check(conf: &Config) -> Result<(), ConfigError> {
    let options = conf.group::<CoordinationOptions>()?;
    match &options.backend_url {
        None => Ok(()),
        Some(url) => Err(InvalidValue::in_snapshot(
            &conf.snapshot(),
            "coordination",
            "backend_url",
            url,
            "this program was built without oslo-service's `coordination` feature".to_owned(),
        )),
    }
}

/// Refuses a `backend_url`; nothing to start otherwise.
pub(crate) fn start(conf: &Config, _parent: Option<Arc<dyn AskParent>>) -> Result<(), ConfigError> {
    check(conf)
}

/// Nothing to wait for.
pub(crate) async fn wait_for_first_lease() -> Result<(), Infallible> {
    Ok(())
}

/// Nothing to leave.
pub(crate) async fn stop() {}

/// A reload that sets `backend_url` is refused by the same check as a start.
pub(crate) fn follow_reload(
    conf: &Config,
    _parent: Option<Arc<dyn AskParent>>,
) -> Result<(), ConfigError> {
    check(conf)
}

/// A cluster task runs on this host, as a local one: `Ok(None)`, no period claimed.
pub(crate) async fn may_run_cluster_task(
    _task: &str,
    _every: Duration,
) -> Result<Option<u64>, String> {
    Ok(None)
}

/// Runs `run`: no period was claimed.
pub(crate) async fn with_claimed_period<F: std::future::Future>(
    _period: Option<u64>,
    run: F,
) -> F::Output {
    run.await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Snapshot;

    fn conf(ini: &str) -> Config {
        let file = std::path::Path::new("/etc/svc.conf");
        Config::from_snapshot(Snapshot::from_ini(ini, Some(file)).unwrap())
    }

    #[test]
    fn a_backend_url_is_refused_naming_the_feature() {
        let conf = conf("[coordination]\nbackend_url = etcd3+http://127.0.0.1:2379\n");
        for err in [check(&conf), start(&conf, None), follow_reload(&conf, None)] {
            let text = err.unwrap_err().to_string();
            assert!(text.contains("backend_url"), "{text}");
            assert!(text.contains("`coordination` feature"), "{text}");
            assert!(text.contains("/etc/svc.conf"), "{text}");
        }
        assert!(current().is_none());
    }

    #[test]
    fn without_a_backend_url_nothing_is_asked() {
        let conf = conf("[coordination]\nlease_ttl = 10s\n");
        check(&conf).unwrap();
        start(&conf, None).unwrap();
    }
}
