//! TLS from `[ssl]` (oslo.service's `sslutils`) on rustls with the ring provider: the
//! certificate and key, client certificates signed by `ca_file` (mutual TLS), the
//! protocol `version`, and `ciphers` in OpenSSL's names. Read when the server is built,
//! at each start, and by the reload check, so a SIGHUP re-reads the files and a bad one
//! is refused with the running ones kept.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ServerConfig, SupportedCipherSuite, SupportedProtocolVersion};

use crate::config::{ConfigError, InvalidValue, Snapshot, SslOptions};

/// OpenSSL's names of the suites rustls offers, beside their IANA names.
const OPENSSL_NAMES: [(&str, &str); 9] = [
    ("TLS_AES_256_GCM_SHA384", "TLS13_AES_256_GCM_SHA384"),
    ("TLS_AES_128_GCM_SHA256", "TLS13_AES_128_GCM_SHA256"),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        "TLS13_CHACHA20_POLY1305_SHA256",
    ),
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
];

/// The server's TLS configuration from `[ssl]`, or `None` when neither `cert_file` nor
/// `key_file` is set (oslo's `is_enabled`). Errors carry oslo.service's messages.
pub(super) fn server_config(snapshot: &Snapshot) -> Result<Option<Arc<ServerConfig>>, ConfigError> {
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
    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(ciphers) = &ssl.ciphers {
        provider.cipher_suites = cipher_suites(ciphers, &provider.cipher_suites)
            .map_err(|reason| invalid(snapshot, "ciphers", ciphers, reason))?;
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
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
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
fn versions(version: &str) -> Result<Vec<&'static SupportedProtocolVersion>, String> {
    match version.to_ascii_lowercase().replace('.', "_").as_str() {
        "tlsv1_2" => Ok(vec![&rustls::version::TLS12]),
        "tlsv1_3" => Ok(vec![&rustls::version::TLS13]),
        "sslv23" | "tls" => Ok(vec![&rustls::version::TLS13, &rustls::version::TLS12]),
        "tlsv1" | "tlsv1_1" | "sslv2" | "sslv3" => Err(format!(
            "{version} is too old to be offered; use TLSv1_2 or TLSv1_3"
        )),
        _ => Err("unknown TLS version; use TLSv1_2 or TLSv1_3".to_owned()),
    }
}

/// The suites an OpenSSL cipher list keeps: the named ones in its order (`!NAME` or
/// `-NAME` removes one). TLS 1.3 suites are kept unless the list names one, as
/// OpenSSL's cipher list leaves them alone.
fn cipher_suites(
    list: &str,
    offered: &[SupportedCipherSuite],
) -> Result<Vec<SupportedCipherSuite>, String> {
    let find = |name: &str| {
        let iana = OPENSSL_NAMES
            .iter()
            .find(|(openssl, iana)| {
                name.eq_ignore_ascii_case(openssl) || name.eq_ignore_ascii_case(iana)
            })
            .map(|(_, iana)| *iana)?;
        offered
            .iter()
            .find(|suite| format!("{:?}", suite.suite()) == iana)
            .copied()
    };
    let mut kept: Vec<SupportedCipherSuite> = Vec::new();
    let mut removed = Vec::new();
    for entry in list
        .split([':', ',', ' '])
        .filter(|entry| !entry.is_empty())
    {
        if let Some(name) = entry.strip_prefix(['!', '-']) {
            // Removing what is never offered (aNULL, RC4…) changes nothing.
            removed.extend(find(name));
            continue;
        }
        let suite = find(entry.trim_start_matches('+')).ok_or_else(|| {
            let known: Vec<&str> = OPENSSL_NAMES.iter().map(|(openssl, _)| *openssl).collect();
            format!(
                "unknown cipher '{entry}'; the ciphers offered are {}",
                known.join(", ")
            )
        })?;
        if !kept.iter().any(|k| k.suite() == suite.suite()) {
            kept.push(suite);
        }
    }
    if kept.is_empty() {
        kept = offered.to_vec();
    } else if !kept.iter().any(|suite| suite.tls13().is_some()) {
        kept.extend(
            offered
                .iter()
                .filter(|suite| suite.tls13().is_some())
                .copied(),
        );
    }
    kept.retain(|suite| {
        !removed
            .iter()
            .any(|r: &SupportedCipherSuite| r.suite() == suite.suite())
    });
    if kept.is_empty() {
        return Err("it leaves no cipher to offer".to_owned());
    }
    Ok(kept)
}

/// A bad value of an `[ssl]` option, with the file and line it came from.
fn invalid(snapshot: &Snapshot, option: &str, value: &str, reason: String) -> ConfigError {
    InvalidValue::in_snapshot(snapshot, "ssl", option, value, reason)
}

/// The ring provider, as every TLS object here uses it (tests' clients included).
#[cfg(test)]
pub(super) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(suites: &[SupportedCipherSuite]) -> Vec<String> {
        suites.iter().map(|s| format!("{:?}", s.suite())).collect()
    }

    #[test]
    fn openssl_cipher_lists_map_onto_rustls_suites() {
        let offered = provider().cipher_suites.clone();
        let kept = cipher_suites(
            "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:!aNULL",
            &offered,
        )
        .unwrap();
        let kept = names(&kept);
        assert_eq!(
            kept[..2],
            [
                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
            ]
        );
        // TLS 1.3's suites stay, as OpenSSL's cipher list does not touch them.
        assert!(kept.iter().any(|name| name.starts_with("TLS13_")));
        assert_eq!(kept.len(), 5);

        let only = cipher_suites("TLS_AES_128_GCM_SHA256", &offered).unwrap();
        assert_eq!(names(&only), ["TLS13_AES_128_GCM_SHA256"]);

        let error = cipher_suites("ECDHE-RSA-AES128-GCM-SHA256:RC4-SHA", &offered).unwrap_err();
        assert!(error.contains("unknown cipher 'RC4-SHA'"), "{error}");
        assert!(
            cipher_suites("!ECDHE-RSA-AES128-GCM-SHA256", &offered)
                .unwrap()
                .len()
                == offered.len() - 1
        );
    }

    #[test]
    fn versions_older_than_tls_1_2_are_refused_by_name() {
        assert_eq!(versions("TLSv1_2").unwrap().len(), 1);
        assert_eq!(versions("tlsv1.3").unwrap().len(), 1);
        assert_eq!(versions("SSLv23").unwrap().len(), 2);
        let error = versions("TLSv1_1").unwrap_err();
        assert!(error.contains("TLSv1_1 is too old"), "{error}");
        assert!(
            versions("TLSv9")
                .unwrap_err()
                .contains("unknown TLS version")
        );
    }
}
