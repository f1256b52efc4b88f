//! etcd without TLS (oslo-service built without its `tls` feature): an
//! `etcd3+https` URL is refused with the feature to turn on.

use std::time::Duration;

use tokio::net::TcpStream;

/// No TLS client can exist in such a build.
#[derive(Clone)]
pub(crate) enum Connector {}

/// Refuses `etcd3+https`.
pub(super) fn connector(
    _parameters: &std::collections::BTreeMap<String, String>,
) -> Result<Connector, String> {
    Err(
        "etcd3+https needs oslo-service's `tls` feature, which this program was built without"
            .to_owned(),
    )
}

/// Never called: there is no connector to call it with.
pub(super) async fn handshake(
    connector: &Connector,
    _host: &str,
    _stream: TcpStream,
    _limit: Duration,
) -> Result<TcpStream, String> {
    match *connector {}
}
