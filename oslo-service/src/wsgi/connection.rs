//! One client connection, from accept to close: nothing but a registered socket until
//! its first byte arrives (no TLS state, no hyper buffers: a silent client costs a
//! socket and a small task), then HTTP/1.1 through hyper with the options' limits, and
//! the end when the server stops or the connection is evicted.
//!
//! Stopping does not close a keep-alive connection that happens to be idle at that
//! instant: its client may be sending the next request right then, and would see the
//! connection closed under it (the failed request a reload must never cause). Instead,
//! every response from then on carries `Connection: close` (added by the handler), so an
//! active client is answered and closed cleanly. A connection still without a request
//! being served after [`IDLE_DRAIN`] (idle, silent, with a request head that never
//! comes whole, or with a body still being gathered before its turn in the pool) is
//! closed then; only requests being served are waited for, within the launcher's
//! `graceful_shutdown_timeout`.
//!
//! An upgraded connection (a WebSocket) is the application's: hyper lets go of the
//! socket once the `101` is written, and this connection's task waits until the
//! application drops it. A stop waits for it as for a request being served; the
//! application hears of the stop through [`super::Stopping`] and closes it.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;

use super::app::HttpApp;
use super::clients::{Cut, Phase, Registered};
use super::handler::{Handler, Shared};
use super::io::ClientIo;
use super::listener::Accepted;
use super::settings::Settings;

/// How long a stopping server leaves a connection without a request being served
/// open, for a client that is sending its request right then (answered, then closed).
pub(super) const IDLE_DRAIN: Duration = Duration::from_secs(1);

/// The client's address in access log lines; `-` on a UNIX socket.
pub(super) fn client_ip(peer: Option<IpAddr>) -> Arc<str> {
    peer.map_or_else(|| Arc::from("-"), |ip| Arc::from(ip.to_string()))
}

/// Serves one accepted connection until it closes.
pub(super) async fn serve<S: HttpApp>(
    accepted: Accepted,
    app: S,
    shared: Arc<Shared>,
    settings: Arc<Settings>,
    registered: Registered,
) {
    let client_ip = match &accepted {
        Accepted::Tcp(_, ip) => client_ip(Some(*ip)),
        Accepted::Unix(_) => client_ip(None),
    };
    // Until the client sends something, only this small future exists for it.
    let first_byte = accepted.first_byte();
    let idle = settings.client_timeout;
    let arrived = tokio::select! {
        readable = first_byte => readable.is_ok(),
        () = sleep_or_never(idle) => {
            shared.clients.cut(Cut::Idle, &client_ip);
            false
        }
        () = registered.client.close.cancelled() => {
            shared.clients.cut(Cut::Evicted, &client_ip);
            false
        }
        // Nothing was asked of a stopping server on this connection yet; a client that
        // connected just then has the drain's second to say what it wants.
        () = async { shared.stopping.cancelled().await; tokio::time::sleep(IDLE_DRAIN).await } => false,
    };
    if !arrived {
        return;
    }
    // The rest on the heap: what a silent connection's task holds stays small.
    Box::pin(serve_arrived(
        accepted, client_ip, app, shared, settings, registered,
    ))
    .await;
}

async fn sleep_or_never(limit: Option<Duration>) {
    match limit {
        Some(limit) => tokio::time::sleep(limit).await,
        None => std::future::pending().await,
    }
}

async fn serve_arrived<S: HttpApp>(
    accepted: Accepted,
    client_ip: Arc<str>,
    app: S,
    shared: Arc<Shared>,
    settings: Arc<Settings>,
    registered: Registered,
) {
    match (accepted, shared.tls()) {
        #[cfg(feature = "tls")]
        (Accepted::Tcp(stream, _), Some(acceptor)) => {
            // A handshake has the time a request head has, and a stop ends it.
            registered.client.set_phase(Phase::Head);
            let handshake = tokio::time::timeout(settings.header_timeout, acceptor.accept(stream));
            let stopped = async {
                shared.stopping.cancelled().await;
                tokio::time::sleep(IDLE_DRAIN).await;
            };
            let tls = tokio::select! {
                handshake = handshake => handshake,
                () = stopped => return,
                () = registered.client.close.cancelled() => {
                    shared.clients.cut(Cut::Evicted, &client_ip);
                    return;
                }
            };
            match tls {
                Ok(Ok(tls)) => {
                    registered.client.set_phase(Phase::Idle);
                    serve_http(tls, client_ip, app, shared, settings, registered).await;
                }
                Ok(Err(err)) => {
                    let error = super::handler::error_chain(&err);
                    tracing::info!(client = %client_ip, %error, "TLS handshake failed");
                }
                Err(_elapsed) => shared.clients.cut(Cut::Handshake, &client_ip),
            }
        }
        #[cfg(not(feature = "tls"))]
        (Accepted::Tcp(_, _), Some(acceptor)) => match acceptor {},
        (Accepted::Tcp(stream, _), None) => {
            serve_http(stream, client_ip, app, shared, settings, registered).await;
        }
        (Accepted::Unix(stream), _) => {
            serve_http(stream, client_ip, app, shared, settings, registered).await;
        }
    }
}

/// HTTP on a connection whose first bytes have arrived, and then, if it is upgraded,
/// the application's protocol until the application lets go of the socket.
async fn serve_http<IO, S>(
    io: IO,
    client_ip: Arc<str>,
    app: S,
    shared: Arc<Shared>,
    settings: Arc<Settings>,
    registered: Registered,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: HttpApp,
{
    let client = Arc::clone(&registered.client);
    let stopping = shared.stopping.clone();
    let draining = Arc::clone(&shared);
    let clients = Arc::clone(&shared.clients);
    // Cancelled when the socket is dropped: with hyper's connection, or after an
    // upgrade by the application.
    let released = CancellationToken::new();
    let io = ClientIo::new(
        io,
        settings.deadlines(),
        Arc::clone(&client),
        clients,
        Arc::clone(&client_ip),
        released.clone().drop_guard(),
    );
    let handler = Handler {
        app,
        shared,
        client_ip: Arc::clone(&client_ip),
        client: Arc::clone(&client),
    };
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        // The socket's own deadlines cover an idle connection and a slow head.
        .header_read_timeout(None)
        .keep_alive(settings.keep_alive)
        .max_buf_size(settings.max_buf_size());
    // Upgrades (a WebSocket) hand the socket to the application once its `101` is
    // written; the connection's future then ends.
    let connection = http
        .serve_connection(TokioIo::new(io), handler)
        .with_upgrades();
    // The connection is dropped at the end of this block, and its socket with it unless
    // it was upgraded.
    async move {
        let mut connection = std::pin::pin!(connection);
        tokio::select! {
            served = connection.as_mut() => return ended(served),
            () = stopping.cancelled() => {}
            () = client.close.cancelled() => {
                // Idle, or still sending its head or the body gathered before its turn:
                // nothing is being served, and hyper would wait for the rest, so it
                // closes now.
                if !client.phase().in_use() {
                    draining.clients.cut(Cut::Evicted, &client_ip);
                    return;
                }
                // Its request became whole just as it was chosen: it is served, then
                // the connection closes.
                connection.as_mut().graceful_shutdown();
                return ended(connection.await);
            }
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
        // No request being served: nothing is lost by closing now, and a half-sent
        // head or a body that does not come must not hold the stop.
        if !client.phase().in_use() {
            return;
        }
        connection.as_mut().graceful_shutdown();
        ended(connection.await);
    }
    .await;
    // Upgraded: the socket is the application's until it drops it. It still counts
    // against the limit (`registered` lives until then) and holds a stop as a request
    // being served does: the application learns of the stop through
    // [`super::Stopping`], and the launcher's `graceful_shutdown_timeout` bounds it.
    released.cancelled().await;
    drop(registered);
}

fn ended(served: Result<(), hyper::Error>) {
    if let Err(err) = served {
        // A client that goes away or breaks the protocol ends its own connection only.
        let error = super::handler::error_chain(&err);
        tracing::debug!(%error, "client connection ended with an error");
    }
}
