//! The stand-in for a build without feature `otel`: no spans, and `[otel] endpoint`
//! refused at start, naming the feature.

// The servers, the scheduler and the launchers call these whatever the features.
#![allow(dead_code)]

use std::time::Duration;

use crate::config::{Config, ConfigError, InvalidValue, OtelOptions};

const WITHOUT_OTEL: &str = "this program was built without oslo-service's `otel` feature";

/// Refuses `[otel] endpoint`.
pub(crate) fn check(conf: &Config) -> Result<(), ConfigError> {
    let snapshot = conf.snapshot();
    if let Some(endpoint) = &snapshot.group::<OtelOptions>()?.endpoint {
        return Err(InvalidValue::in_snapshot(
            &snapshot,
            "otel",
            "endpoint",
            endpoint,
            WITHOUT_OTEL.to_owned(),
        ));
    }
    Ok(())
}

pub(crate) fn configure(conf: &Config, _program: &str) -> Result<(), ConfigError> {
    check(conf)
}

pub(crate) fn start(_worker: Option<(String, usize)>) {}

pub(crate) async fn flush(_within: Duration) {}

/// Never made.
#[derive(Debug)]
pub(crate) enum Span {}

/// As the real one's: where a span's name would be written.
pub(crate) struct Name<'a>(std::marker::PhantomData<&'a mut ()>);

impl Name<'_> {
    pub(crate) fn push(&mut self, _part: &str) {}
}

impl Span {
    pub(crate) fn text(&mut self, _key: &'static str, _value: &str) {}
    pub(crate) fn number(&mut self, _key: &'static str, _value: i64) {}
    pub(crate) fn fail(&mut self, _message: impl Into<String>) {}
}

// As the real span's: ends when dropped.
impl Drop for Span {
    fn drop(&mut self) {}
}

pub(crate) fn server(
    _traceparent: Option<&[u8]>,
    _name: impl FnOnce(&mut Name<'_>),
) -> Option<Span> {
    None
}

pub(crate) fn internal(_name: impl FnOnce(&mut Name<'_>)) -> Option<Span> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Snapshot;

    #[test]
    fn an_endpoint_is_refused_naming_the_feature() {
        let file = std::path::Path::new("/etc/svc.conf");
        let conf = |ini: &str| Config::from_snapshot(Snapshot::from_ini(ini, Some(file)).unwrap());
        let set = conf("[otel]\nendpoint = http://127.0.0.1:4318\n");
        for err in [
            check(&set).unwrap_err(),
            configure(&set, "svc").unwrap_err(),
        ] {
            let text = err.to_string();
            assert!(text.contains("endpoint"), "{text}");
            assert!(text.contains("`otel` feature"), "{text}");
            assert!(text.contains("/etc/svc.conf:2"), "{text}");
        }
        check(&conf("[otel]\nsample_ratio = 0.5\n")).unwrap();
    }
}
