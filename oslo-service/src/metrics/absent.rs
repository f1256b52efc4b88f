//! The stand-in for a build without feature `metrics`: nothing is recorded, and
//! `[metrics] enabled = true` is refused at start, naming the feature.

// The launchers and servers call these whatever the features; most do nothing here.
#![allow(dead_code)]

use std::time::Duration;

use crate::config::{Config, ConfigError, InvalidValue, MetricsOptions};
use crate::future::BoxFuture;

const WITHOUT_METRICS: &str = "this program was built without oslo-service's `metrics` feature";

/// Refuses `[metrics] enabled = true`.
pub(crate) fn check(conf: &Config) -> Result<(), ConfigError> {
    let snapshot = conf.snapshot();
    if snapshot.group::<MetricsOptions>()?.enabled {
        return Err(InvalidValue::in_snapshot(
            &snapshot,
            "metrics",
            "enabled",
            "true",
            WITHOUT_METRICS.to_owned(),
        ));
    }
    Ok(())
}

pub(crate) fn enabled() -> bool {
    false
}

pub(crate) fn configure(conf: &Config) -> Result<(), ConfigError> {
    check(conf)
}

/// No endpoint, ever.
#[derive(Debug)]
pub(crate) struct Endpoint;

pub(crate) fn serve(
    conf: &Config,
    _workers: Option<std::sync::Arc<dyn WorkerMetrics>>,
) -> crate::Result<Option<Endpoint>> {
    check(conf)?;
    Ok(None)
}

/// Nothing in the data model.
#[derive(Clone, Debug)]
pub(crate) struct MetricFamily;

#[derive(Debug, Default)]
pub(crate) struct Part {
    pub(crate) labels: Vec<(String, String)>,
    pub(crate) families: Vec<MetricFamily>,
}

#[derive(Debug, Default)]
pub(crate) struct Collected {
    pub(crate) parts: Vec<Part>,
    pub(crate) missed: u64,
}

pub(crate) trait WorkerMetrics: Send + Sync + 'static {
    fn collect(&self, timeout: Duration) -> BoxFuture<'_, Collected>;
}

pub(crate) fn fold(_into: &mut Vec<MetricFamily>, _gone: &[MetricFamily]) {}

pub(crate) fn from_bytes(_bytes: &[u8]) -> Result<Vec<MetricFamily>, std::convert::Infallible> {
    Ok(Vec::new())
}

pub(crate) fn encoded() -> Vec<u8> {
    Vec::new()
}

#[derive(Debug)]
pub(crate) struct HttpRequest;

impl HttpRequest {
    pub(crate) fn answered(&mut self, _status: u16) {}
}

pub(crate) fn http_request(_method: &str) -> Option<HttpRequest> {
    None
}
#[derive(Debug)]
pub(crate) struct GrpcCall;

impl GrpcCall {
    pub(crate) fn answered(&mut self, _status: u16) {}
    pub(crate) fn status(&mut self, _status: &[u8]) {}
}

pub(crate) fn grpc_call(_content_type: Option<&[u8]>, _path: &str) -> Option<GrpcCall> {
    None
}
pub(crate) fn http_received(_bytes: usize) {}
pub(crate) fn http_sent(_bytes: usize) {}
pub(crate) fn http_refused(_cause: &'static str) {}
pub(crate) fn http_cut(_cause: &'static str) {}
pub(crate) fn http_connections(_change: i64) {}
pub(crate) fn http_idle(_change: i64) {}
pub(crate) fn periodic_ran(_task: &str, _took: Duration, _failed: bool) {}
pub(crate) fn periodic_skipped(_task: &str) {}
pub(crate) fn workers(_service: &str, _wanted: usize, _alive: usize, _ready: usize) {}
pub(crate) fn worker_restarted(_service: &str, _reason: &'static str) {}
pub(crate) fn worker_recycled(_service: &str, _reason: &'static str) {}
pub(crate) fn reloaded(_accepted: bool, _generation: u64) {}
pub(crate) fn fork_rate_slept() {}
pub(crate) fn claimed(_outcome: &'static str) {}
pub(crate) fn lease_renewed() {}
pub(crate) fn lease_lost() {}
pub(crate) fn etcd_error() {}
pub(crate) fn leading(_group: &str, _leads: bool) {}
pub(crate) fn otel_exported(_count: u64) {}
pub(crate) fn otel_dropped(_reason: &'static str, _count: u64) {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Snapshot;

    fn conf(ini: &str) -> Config {
        let file = std::path::Path::new("/etc/svc.conf");
        Config::from_snapshot(Snapshot::from_ini(ini, Some(file)).unwrap())
    }

    #[test]
    fn metrics_enabled_is_refused_naming_the_feature() {
        let conf = conf("[metrics]\nenabled = true\n");
        let errors = [check(&conf).unwrap_err(), configure(&conf).unwrap_err()];
        for err in errors {
            let text = err.to_string();
            assert!(text.contains("enabled"), "{text}");
            assert!(text.contains("`metrics` feature"), "{text}");
            assert!(text.contains("/etc/svc.conf:2"), "{text}");
        }
        assert!(serve(&conf, None).is_err());
        check(&self::conf("[metrics]\nport = 1\n")).unwrap();
    }
}
