//! etcd over TLS (`etcd3+https`, feature `tls`): the client `ca_cert`, `cert_cert` and
//! `cert_key` describe, on rustls with the ring provider, and the handshake with a
//! member.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;

use crate::error::error_chain;

/// The TLS client of a backend.
pub(crate) type Connector = tokio_rustls::TlsConnector;

/// The TLS client `ca_cert`, `cert_cert` and `cert_key` describe.
pub(super) fn connector(
    parameters: &std::collections::BTreeMap<String, String>,
) -> Result<Connector, String> {
    let ca_cert = parameters.get("ca_cert").ok_or_else(|| {
        "etcd3+https needs ca_cert=PATH: the CA that signed etcd's certificate".to_owned()
    })?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in certificates("ca_cert", ca_cert)? {
        roots
            .add(cert)
            .map_err(|err| format!("ca_cert {ca_cert} holds no usable CA certificate: {err}"))?;
    }
    // ring, as the server: rustls 0.23.48 deprecates its provider for lacking
    // post-quantum key exchange, but aws-lc-rs (which has it) needs cmake and a C
    // toolchain to build, which this framework does not ask of its users.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| err.to_string())?
        .with_root_certificates(roots);
    let config = match (parameters.get("cert_cert"), parameters.get("cert_key")) {
        (None, None) => builder.with_no_client_auth(),
        (Some(cert), Some(key)) => {
            let chain = certificates("cert_cert", cert)?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|err| {
                format!("cert_key {key}: no private key can be read from it: {err}")
            })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|err| format!("cert_key does not go with cert_cert: {err}"))?
        }
        _ => return Err("cert_cert and cert_key go together".to_owned()),
    };
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

fn certificates(parameter: &str, path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|err| format!("{parameter} {path}: no certificate can be read from it: {err}"))?;
    if certs.is_empty() {
        return Err(format!("{parameter} {path} holds no PEM certificate"));
    }
    Ok(certs)
}

/// The TLS session with the etcd member at `host` over `stream`, within `limit`; the error says why not.
pub(super) async fn handshake(
    connector: &Connector,
    host: &str,
    stream: TcpStream,
    limit: Duration,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
    let name = ServerName::try_from(host.to_owned())
        .map_err(|err| format!("{host} is no name a certificate can bear: {err}"))?;
    tokio::time::timeout(limit, connector.connect(name, stream))
        .await
        .map_err(|_| "no TLS handshake in time".to_owned())?
        .map_err(|err| format!("TLS: {}", error_chain(&err)))
}
