//! `[otel]`, read and checked at a process's start: where spans go, what goes with
//! them, and how many roots are traced.

use http::{HeaderName, HeaderValue, Uri};

use crate::config::{Config, ConfigError, InvalidValue, OtelOptions, Snapshot};

/// Where the exporter posts, and with what.
#[derive(Clone, Debug)]
pub(super) struct Settings {
    /// `host:port`, for the connection and the `Host` header.
    pub(super) authority: String,
    pub(super) host: String,
    pub(super) port: u16,
    /// The endpoint's path, then `/v1/traces`.
    pub(super) target: String,
    /// `[otel] headers`: secret, never logged.
    pub(super) headers: Vec<(HeaderName, HeaderValue)>,
    pub(super) ratio: f64,
    pub(super) service_name: Option<String>,
}

/// Checks `[otel]` as a start would, for `--check-config`.
pub(crate) fn check(conf: &Config) -> Result<(), ConfigError> {
    read(&conf.snapshot()).map(drop)
}

/// `None` when no endpoint is set.
pub(super) fn read(snapshot: &Snapshot) -> Result<Option<Settings>, ConfigError> {
    let options = snapshot.group::<OtelOptions>()?;
    let invalid = |option: &str, value: &str, reason: &str| {
        InvalidValue::in_snapshot(snapshot, "otel", option, value, reason.to_owned())
    };
    let ratio = options.sample_ratio;
    if !(0.0..=1.0).contains(&ratio) {
        return Err(invalid(
            "sample_ratio",
            &ratio.to_string(),
            "must be from 0 to 1",
        ));
    }
    let mut headers = Vec::with_capacity(options.headers.len());
    for pair in &options.headers {
        // A header holds a secret: its text is never shown, even when it is wrong.
        let header = pair.split_once('=').and_then(|(name, value)| {
            let name = HeaderName::from_bytes(name.trim().as_bytes()).ok()?;
            let value = HeaderValue::from_str(value.trim()).ok()?;
            Some((name, value))
        });
        match header {
            Some(header) => headers.push(header),
            None => {
                return Err(invalid(
                    "headers",
                    "****",
                    "each header must be name=value, with a valid name and value",
                ));
            }
        }
    }
    let Some(endpoint) = options.endpoint.as_deref() else {
        return Ok(None);
    };
    let bad_endpoint = |reason: &str| invalid("endpoint", endpoint, reason);
    let uri: Uri = endpoint
        .trim()
        .parse()
        .map_err(|_| bad_endpoint("not a URL"))?;
    if uri.scheme_str() != Some("http") {
        return Err(bad_endpoint("must be an http:// URL (OTLP over HTTP)"));
    }
    if uri.query().is_some() {
        return Err(bad_endpoint("must have no query"));
    }
    let (Some(authority), Some(host)) = (uri.authority(), uri.host()) else {
        return Err(bad_endpoint("must name a host"));
    };
    if authority.as_str().contains('@') {
        return Err(invalid("endpoint", "****", "must hold no user or password"));
    }
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let target = format!("{}/v1/traces", uri.path().trim_end_matches('/'));
    Ok(Some(Settings {
        authority: authority.as_str().to_owned(),
        host,
        port: uri.port_u16().unwrap_or(80),
        target,
        headers,
        ratio,
        service_name: options.service_name.clone().filter(|name| !name.is_empty()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_ini(ini: &str) -> Result<Option<Settings>, ConfigError> {
        let file = std::path::Path::new("/etc/svc.conf");
        read(&Snapshot::from_ini(ini, Some(file)).unwrap())
    }

    #[test]
    fn unset_is_off_and_an_endpoint_is_read() {
        assert!(read_ini("").unwrap().is_none());
        let settings = read_ini(
            "[otel]\nendpoint = http://127.0.0.1:4318\nheaders = x-api-key=s3cret\nsample_ratio = 0.5\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(settings.authority, "127.0.0.1:4318");
        assert_eq!((settings.host.as_str(), settings.port), ("127.0.0.1", 4318));
        assert_eq!(settings.target, "/v1/traces");
        assert_eq!(settings.headers[0].0, "x-api-key");
        assert_eq!(settings.ratio, 0.5);
        let prefixed = read_ini("[otel]\nendpoint = http://[::1]/otlp/\n")
            .unwrap()
            .unwrap();
        assert_eq!((prefixed.host.as_str(), prefixed.port), ("::1", 80));
        assert_eq!(prefixed.target, "/otlp/v1/traces");
    }

    #[test]
    fn bad_values_name_file_line_option_and_value() {
        for (ini, option, value) in [
            (
                "[otel]\nendpoint = https://c:4318\n",
                "endpoint",
                "https://c:4318",
            ),
            ("[otel]\nendpoint = grpc://c\n", "endpoint", "grpc://c"),
            ("[otel]\nsample_ratio = 1.5\n", "sample_ratio", "1.5"),
            ("[otel]\nsample_ratio = -0.1\n", "sample_ratio", "-0.1"),
        ] {
            let text = read_ini(ini).unwrap_err().to_string();
            assert!(text.contains("/etc/svc.conf:2"), "{text}");
            assert!(text.contains(option) && text.contains(value), "{text}");
        }
    }

    #[test]
    fn a_bad_header_is_refused_without_its_text() {
        let text = read_ini("[otel]\nheaders = authorization: Bearer s3cret\n")
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("headers") && text.contains("/etc/svc.conf:2"),
            "{text}"
        );
        assert!(!text.contains("s3cret"), "{text}");
    }
}
