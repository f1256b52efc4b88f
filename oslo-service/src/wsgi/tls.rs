//! TLS from `[ssl]` (oslo.service's `sslutils`) on rustls with the ring provider: the
//! certificate and key, client certificates signed by `ca_file` (mutual TLS), the
//! protocol `version`, and `ciphers` in OpenSSL's names. Read when the server is built,
//! at each start, and by the reload check, so a SIGHUP re-reads the files and a bad one
//! is refused with the running ones kept. ALPN offers `h2` before `http/1.1` unless
//! `wsgi_http2` is false.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ServerConfig, SupportedProtocolVersion};

use crate::config::{ConfigError, InvalidValue, Snapshot, SslOptions, WsgiOptions};

/// What accepts TLS connections for the server.
pub(super) type Acceptor = tokio_rustls::TlsAcceptor;

/// HTTP/2's name in ALPN (RFC 9113, 3.2).
pub(super) const ALPN_H2: &[u8] = b"h2";

/// The server's TLS acceptor from `[ssl]`, or `None` when neither `cert_file` nor
/// `key_file` is set (oslo's `is_enabled`). Errors carry oslo.service's messages.
pub(super) fn acceptor(snapshot: &Snapshot) -> Result<Option<Acceptor>, ConfigError> {
    Ok(server_config(snapshot)?.map(Acceptor::from))
}

fn server_config(snapshot: &Snapshot) -> Result<Option<Arc<ServerConfig>>, ConfigError> {
    let ssl = snapshot.group::<SslOptions>()?;
    let files = [
        ("cert_file", &ssl.cert_file),
        ("ca_file", &ssl.ca_file),
        ("key_file", &ssl.key_file),
    ];
    for (option, value) in files {
        if let Some(path) = value {
            if !Path::new(path).exists() {
                return Err(invalid(
                    snapshot,
                    option,
                    path,
                    format!("Unable to find {option} : {path}"),
                ));
            }
        }
    }
    let (cert_file, key_file) = match (&ssl.cert_file, &ssl.key_file) {
        (None, None) => return Ok(None),
        (Some(cert), Some(key)) => (cert, key),
        _ => {
            return Err(ConfigError::Inconsistent {
                group: "ssl".to_owned(),
                message: "When running server in SSL mode, you must specify both a cert_file and key_file option value in your configuration file".to_owned(),
            });
        }
    };
    let certs = certificates(snapshot, "cert_file", cert_file)?;
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|err| {
        invalid(
            snapshot,
            "key_file",
            key_file,
            format!("no private key can be read from it: {err}"),
        )
    })?;
    let versions = match &ssl.version {
        Some(version) => {
            versions(version).map_err(|reason| invalid(snapshot, "version", version, reason))?
        }
        None => vec![&rustls::version::TLS13, &rustls::version::TLS12],
    };
    // ring: rustls 0.23.48 deprecates its provider for lacking post-quantum key
    // exchange, but aws-lc-rs (which has it) needs cmake and a C toolchain to build.
    #[allow(deprecated)]
    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(ciphers) = &ssl.ciphers {
        let (suites, unknown) = super::ciphers::select(ciphers, &provider.cipher_suites)
            .map_err(|reason| invalid(snapshot, "ciphers", ciphers, reason))?;
        if !unknown.is_empty() {
            tracing::debug!(ignored = %unknown.join(":"), "cipher list words that match no suite rustls offers");
        }
        let names: Vec<String> = suites.iter().map(|s| format!("{:?}", s.suite())).collect();
        tracing::debug!(ciphers = %names.join(":"), "TLS cipher suites offered");
        provider.cipher_suites = suites;
    }
    let provider = Arc::new(provider);
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|err| ConfigError::Inconsistent {
            group: "ssl".to_owned(),
            message: format!("no cipher of `ciphers` works with `version`: {err}"),
        })?;
    let builder = match &ssl.ca_file {
        Some(ca_file) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in certificates(snapshot, "ca_file", ca_file)? {
                roots.add(cert).map_err(|err| {
                    invalid(
                        snapshot,
                        "ca_file",
                        ca_file,
                        format!("not a CA certificate: {err}"),
                    )
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|err| invalid(snapshot, "ca_file", ca_file, err.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(certs, key).map_err(|err| {
        invalid(
            snapshot,
            "key_file",
            key_file,
            format!("it does not go with cert_file: {err}"),
        )
    })?;
    // HTTP/2 first when it is on: a client that offers both takes it.
    config.alpn_protocols = if snapshot.group::<WsgiOptions>()?.wsgi_http2 {
        vec![ALPN_H2.to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(Some(Arc::new(config)))
}

/// Every certificate of a PEM file; none is an error.
fn certificates(
    snapshot: &Snapshot,
    option: &str,
    path: &str,
) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let bad = |reason: String| invalid(snapshot, option, path, reason);
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|err| bad(format!("no certificate can be read from it: {err}")))?;
    if certs.is_empty() {
        return Err(bad("it holds no PEM certificate".to_owned()));
    }
    Ok(certs)
}

/// oslo's `version` values: one protocol, or SSLv23 for whatever both ends support.
/// The protocols older than TLS 1.2 that oslo documents (TLSv1, TLSv1_1, SSLv3, SSLv2)
/// are taken as "TLS 1.2 at least", rustls having nothing older, with a warning (once
/// per process).
fn versions(version: &str) -> Result<Vec<&'static SupportedProtocolVersion>, String> {
    let both = vec![&rustls::version::TLS13, &rustls::version::TLS12];
    match version.to_ascii_lowercase().replace('.', "_").as_str() {
        "tlsv1_2" => Ok(vec![&rustls::version::TLS12]),
        "tlsv1_3" => Ok(vec![&rustls::version::TLS13]),
        "sslv23" | "tls" => Ok(both),
        "tlsv1" | "tlsv1_0" | "tlsv1_1" | "sslv2" | "sslv3" => {
            static WARNED: std::sync::Once = std::sync::Once::new();
            WARNED.call_once(|| {
                tracing::warn!(
                    version,
                    "[ssl] version asks for a protocol older than TLS 1.2, which rustls does not have: TLS 1.2 and 1.3 are offered"
                );
            });
            Ok(both)
        }
        _ => Err(
            "unknown TLS version; use TLSv1_2, TLSv1_3 or SSLv23 (TLSv1, TLSv1_1, SSLv2 and SSLv3 mean TLS 1.2 at least)"
                .to_owned(),
        ),
    }
}

/// A bad value of an `[ssl]` option, with the file and line it came from.
fn invalid(snapshot: &Snapshot, option: &str, value: &str, reason: String) -> ConfigError {
    InvalidValue::in_snapshot(snapshot, "ssl", option, value, reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_version_oslo_documents_is_taken() {
        assert_eq!(versions("TLSv1_2").unwrap().len(), 1);
        assert_eq!(versions("tlsv1.3").unwrap().len(), 1);
        assert_eq!(versions("SSLv23").unwrap().len(), 2);
        for old in ["TLSv1", "TLSv1_1", "SSLv2", "SSLv3"] {
            assert_eq!(versions(old).unwrap().len(), 2, "{old}");
        }
        assert!(
            versions("TLSv9")
                .unwrap_err()
                .contains("unknown TLS version")
        );
    }
}
