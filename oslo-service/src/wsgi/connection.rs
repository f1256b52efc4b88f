//! One client connection, from accept to close: HTTP/1.1 through hyper with the
//! options' limits, and the graceful end when the server stops.
//!
//! Stopping does not close a keep-alive connection that happens to be idle at that
//! instant: its client may be sending the next request right then, and would see the
//! connection closed under it (the failed request a reload must never cause). Instead,
//! every response from then on carries `Connection: close` (added by the handler), so an
//! active client is answered and closed cleanly, and a connection still idle after
//! [`IDLE_DRAIN`] is closed by hyper's graceful shutdown, which also finishes a response
//! in progress first.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::OwnedSemaphorePermit;

use super::app::HttpApp;
use super::handler::{Handler, Shared};
use super::io::WriteTimeout;
use super::settings::Settings;

/// How long a stopping server leaves an idle keep-alive connection open for its
/// client's next request (answered, then closed) before closing it.
pub(super) const IDLE_DRAIN: Duration = Duration::from_secs(1);

/// The client's address in access log lines; `-` on a UNIX socket.
pub(super) fn client_ip(peer: Option<IpAddr>) -> Arc<str> {
    peer.map_or_else(|| Arc::from("-"), |ip| Arc::from(ip.to_string()))
}

/// Serves one connection until it closes. The pool permit is held until then, so
/// `wsgi_default_pool_size` counts connections, keep-alive included, as eventlet's
/// pool does.
pub(super) async fn serve<IO, S>(
    io: IO,
    client_ip: Arc<str>,
    app: S,
    shared: Arc<Shared>,
    settings: Arc<Settings>,
    permit: OwnedSemaphorePermit,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: HttpApp,
{
    let _permit = permit;
    let stopping = shared.stopping.clone();
    let draining = Arc::clone(&shared);
    let handler = Handler {
        app,
        shared,
        client_ip,
    };
    let io = TokioIo::new(WriteTimeout::new(io, settings.client_timeout));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        // Idle between requests, or slow to send a request head.
        .header_read_timeout(settings.client_timeout)
        .keep_alive(settings.keep_alive)
        .max_buf_size(settings.max_buf_size());
    let connection = http.serve_connection(io, handler);
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        served = connection.as_mut() => return ended(served),
        () = stopping.cancelled() => {}
    }
    // Whichever task sees the stop first sets it, so no answer after the stop keeps
    // its connection open.
    draining
        .draining
        .store(true, std::sync::atomic::Ordering::Relaxed);
    tokio::select! {
        served = connection.as_mut() => return ended(served),
        () = tokio::time::sleep(IDLE_DRAIN) => {}
    }
    connection.as_mut().graceful_shutdown();
    ended(connection.await);
}

/// Serves one TLS connection, once its handshake is done within its timeout.
pub(super) async fn serve_tls<S>(
    stream: tokio::net::TcpStream,
    acceptor: tokio_rustls::TlsAcceptor,
    client_ip: Arc<str>,
    app: S,
    shared: Arc<Shared>,
    settings: Arc<Settings>,
    permit: OwnedSemaphorePermit,
) where
    S: HttpApp,
{
    let timeout = super::tls::handshake_timeout(settings.client_timeout);
    match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => serve(tls, client_ip, app, shared, settings, permit).await,
        Ok(Err(err)) => {
            let error = super::handler::error_chain(&err);
            tracing::info!(client = %client_ip, %error, "TLS handshake failed");
        }
        Err(_elapsed) => {
            tracing::info!(client = %client_ip, ?timeout, "TLS handshake timed out");
        }
    }
}

fn ended(served: Result<(), hyper::Error>) {
    if let Err(err) = served {
        // A client that goes away or breaks the protocol ends its own connection only.
        let error = super::handler::error_chain(&err);
        tracing::debug!(%error, "client connection ended with an error");
    }
}
