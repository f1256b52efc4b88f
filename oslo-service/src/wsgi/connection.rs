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

use bytes::Bytes;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;

use super::app::HttpApp;
use super::clients::{Cut, Phase, Registered};
use super::forwarded::client_ip;
use super::frames::FrameWatch;
use super::handler::{Handler, Shared};
use super::io::ClientIo;
use super::listener::Accepted;
use super::preface::{self, Rewind};
use super::settings::{Http2, Settings};

/// How long a stopping server leaves a connection without a request being served
/// open, for a client that is sending its request right then (answered, then closed).
pub(super) const IDLE_DRAIN: Duration = Duration::from_secs(1);

/// The other end of a served connection: its address (`None` on a UNIX socket), as log
/// lines show it, and whether it speaks TLS.
struct Peer {
    ip: Option<IpAddr>,
    shown: Arc<str>,
    tls: bool,
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
        () = crate::future::sleep_until(
            idle.and_then(|limit| tokio::time::Instant::now().checked_add(limit)),
        ) => {
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

async fn serve_arrived<S: HttpApp>(
    accepted: Accepted,
    client_ip: Arc<str>,
    app: S,
    shared: Arc<Shared>,
    settings: Arc<Settings>,
    registered: Registered,
) {
    let cleartext = if settings.http2.enabled {
        Protocol::Either
    } else {
        Protocol::Http1
    };
    match (accepted, shared.tls()) {
        #[cfg(feature = "tls")]
        (Accepted::Tcp(stream, ip), Some(acceptor)) => {
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
                    let protocol = negotiated(&tls);
                    let peer = Peer {
                        ip: Some(ip),
                        shown: client_ip,
                        tls: true,
                    };
                    serve_http(tls, protocol, peer, app, shared, settings, registered).await;
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
        (Accepted::Tcp(stream, ip), None) => {
            let peer = Peer {
                ip: Some(ip),
                shown: client_ip,
                tls: false,
            };
            serve_http(stream, cleartext, peer, app, shared, settings, registered).await;
        }
        (Accepted::Unix(stream), _) => {
            let peer = Peer {
                ip: None,
                shown: client_ip,
                tls: false,
            };
            serve_http(stream, cleartext, peer, app, shared, settings, registered).await;
        }
    }
}

/// Which HTTP a connection speaks, once its first bytes (or its TLS handshake) have
/// come.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    Http1,
    /// Chosen by TLS's ALPN only: a build without `tls` never makes it.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    Http2,
    /// Cleartext with HTTP/2 on: told by the preface, or its absence.
    Either,
}

/// What a connection's TLS handshake chose by ALPN: HTTP/2 only when both offered it
/// (HTTP/2 over TLS never goes without ALPN, RFC 9113, 3.2).
#[cfg(feature = "tls")]
fn negotiated<IO>(tls: &tokio_rustls::server::TlsStream<IO>) -> Protocol {
    if tls.get_ref().1.alpn_protocol() == Some(super::tls::ALPN_H2) {
        Protocol::Http2
    } else {
        Protocol::Http1
    }
}

/// HTTP on a connection whose first bytes have arrived, and then, if it is upgraded,
/// the application's protocol until the application lets go of the socket.
async fn serve_http<IO, S>(
    io: IO,
    protocol: Protocol,
    peer: Peer,
    app: S,
    shared: Arc<Shared>,
    settings: Arc<Settings>,
    registered: Registered,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: HttpApp,
{
    let Peer {
        ip: peer,
        shown: client_ip,
        tls,
    } = peer;
    let client = Arc::clone(&registered.client);
    // Cancelled when the socket is dropped: with hyper's connection, or after an
    // upgrade by the application.
    let released = CancellationToken::new();
    let io = ClientIo::new(
        io,
        settings.deadlines(),
        Arc::clone(&client),
        Arc::clone(&shared.clients),
        Arc::clone(&client_ip),
        released.clone().drop_guard(),
    );
    let handler = Handler {
        app,
        shared: Arc::clone(&shared),
        client_ip: Arc::clone(&client_ip),
        client: Arc::clone(&client),
        peer,
        tls,
    };
    let ends = Ends {
        shared,
        client,
        client_ip,
        keep_alive: settings.keep_alive,
    };
    // The socket is dropped at the end of this block unless it was upgraded.
    async move {
        let (io, http2) = match protocol {
            Protocol::Http1 => (Rewind::new(io, Bytes::new()), false),
            Protocol::Http2 => (Rewind::new(io, Bytes::new()), true),
            Protocol::Either => {
                // The preface is read under a request head's deadline, and a stop or
                // an eviction ends the wait as they end a head's.
                let stopped = async {
                    ends.shared.stopping.cancelled().await;
                    tokio::time::sleep(IDLE_DRAIN).await;
                };
                tokio::select! {
                    sniffed = preface::sniff(io) => match sniffed {
                        Ok(sniffed) => sniffed,
                        Err(_) => return,
                    },
                    () = stopped => return,
                    () = ends.client.close.cancelled() => {
                        ends.shared.clients.cut(Cut::Evicted, &ends.client_ip);
                        return;
                    }
                }
            }
        };
        if http2 {
            ends.client.set_http2();
            ends.client.set_phase(Phase::Idle);
            let io = FrameWatch::new(
                io,
                settings.header_timeout,
                Arc::clone(&ends.shared.clients),
                Arc::clone(&ends.client_ip),
            );
            let connection =
                http2_builder(&settings.http2).serve_connection(TokioIo::new(io), handler);
            ends.http2(connection).await;
        } else {
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                // The socket's own deadlines cover an idle connection and a slow head.
                .header_read_timeout(None)
                .keep_alive(settings.keep_alive)
                .max_buf_size(settings.max_buf_size());
            // Upgrades (a WebSocket) hand the socket to the application once its `101`
            // is written; the connection's future then ends.
            let connection = http
                .serve_connection(TokioIo::new(io), handler)
                .with_upgrades();
            ends.http1(connection).await;
        }
    }
    .await;
    // Upgraded: the socket is the application's until it drops it. It still counts
    // against the limit (`registered` lives until then) and holds a stop as a request
    // being served does: the application learns of the stop through
    // [`super::Stopping`], and the launcher's `graceful_shutdown_timeout` bounds it.
    released.cancelled().await;
    drop(registered);
}

/// hyper's HTTP/2 with the options' bounds and h2's defences: a client that resets
/// the streams it opens (rapid reset, CVE-2023-44487), or makes the server reset them,
/// past a few is sent GOAWAY; a header list past its bound (CONTINUATION frames
/// without end) is refused.
fn http2_builder(bounds: &Http2) -> hyper::server::conn::http2::Builder<InSpan> {
    let mut http = hyper::server::conn::http2::Builder::new(InSpan(tracing::Span::current()));
    http.timer(TokioTimer::new())
        .max_concurrent_streams(bounds.max_concurrent_streams)
        .max_header_list_size(bounds.max_header_list_size)
        .initial_stream_window_size(bounds.initial_stream_window_size)
        .initial_connection_window_size(bounds.initial_connection_window_size)
        .keep_alive_interval(bounds.keep_alive_interval)
        .keep_alive_timeout(bounds.keep_alive_timeout)
        .max_pending_accept_reset_streams(MAX_PENDING_RESETS)
        .max_local_error_reset_streams(MAX_LOCAL_RESETS);
    http
}

/// Runs each HTTP/2 stream in a task of its own, in the connection's span (the
/// service's or worker's), so that its log lines say where they come from.
#[derive(Clone)]
struct InSpan(tracing::Span);

impl<F> hyper::rt::Executor<F> for InSpan
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, stream: F) {
        tokio::spawn(tracing::Instrument::instrument(stream, self.0.clone()));
    }
}

/// Streams a client may open and reset before the server has taken them (h2's own
/// default, written down): past it, GOAWAY.
const MAX_PENDING_RESETS: usize = 20;

/// Streams the server may reset for a client's errors on one connection: past it,
/// GOAWAY (hyper's default, written down).
const MAX_LOCAL_RESETS: usize = 1024;

/// How a served connection ends: by itself, at a stop, at an eviction, or (HTTP/2
/// without keep-alive) once its first requests are answered.
struct Ends {
    shared: Arc<Shared>,
    client: Arc<super::clients::Client>,
    client_ip: Arc<str>,
    keep_alive: bool,
}

impl Ends {
    async fn http1<C>(&self, connection: C)
    where
        C: Future<Output = Result<(), hyper::Error>>,
        C: GracefulShutdown,
    {
        let mut connection = std::pin::pin!(connection);
        tokio::select! {
            served = connection.as_mut() => return ended(served),
            () = self.shared.stopping.cancelled() => {}
            () = self.client.close.cancelled() => {
                // Idle, or still sending its head or the body gathered before its turn:
                // nothing is being served, and hyper would wait for the rest, so it
                // closes now.
                if !self.client.phase().in_use() {
                    self.shared.clients.cut(Cut::Evicted, &self.client_ip);
                    return;
                }
                // Its request became whole just as it was chosen: it is served, then
                // the connection closes.
                connection.as_mut().shut_down();
                return ended(connection.await);
            }
        }
        self.draining();
        tokio::select! {
            served = connection.as_mut() => return ended(served),
            () = tokio::time::sleep(IDLE_DRAIN) => {}
        }
        // No request being served: nothing is lost by closing now, and a half-sent
        // head or a body that does not come must not hold the stop.
        if !self.client.phase().in_use() {
            return;
        }
        connection.as_mut().shut_down();
        ended(connection.await);
    }

    /// An HTTP/2 connection: GOAWAY as soon as it is to end, its streams being served
    /// finish, and it closes once none is (after a second for the client to answer
    /// GOAWAY's PING, which tells the last stream it opened).
    async fn http2<C>(&self, connection: C)
    where
        C: Future<Output = Result<(), hyper::Error>>,
        C: GracefulShutdown,
    {
        let mut connection = std::pin::pin!(connection);
        let answered_once = async {
            if self.keep_alive {
                return std::future::pending().await;
            }
            self.client.answered_once().await;
        };
        tokio::select! {
            served = connection.as_mut() => return ended(served),
            () = self.shared.stopping.cancelled() => self.draining(),
            () = self.client.close.cancelled() => {
                if !self.client.phase().in_use() {
                    self.shared.clients.cut(Cut::Evicted, &self.client_ip);
                    return;
                }
            }
            // `wsgi_keep_alive = false`: one round of requests, then GOAWAY.
            () = answered_once => {}
        }
        connection.as_mut().shut_down();
        loop {
            let quiet = async {
                self.client.done_serving().await;
                tokio::time::sleep(IDLE_DRAIN).await;
            };
            tokio::select! {
                served = connection.as_mut() => return ended(served),
                () = quiet => {
                    // No stream being served: nothing is lost by closing now, and a
                    // stream whose body does not come must not hold the stop.
                    if !self.client.phase().in_use() {
                        return;
                    }
                }
            }
        }
    }

    /// Whichever task sees the stop first sets it, so no answer after the stop keeps
    /// its connection open.
    fn draining(&self) {
        self.shared
            .draining
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// hyper's graceful shutdown, on either protocol's connection: HTTP/1 closes after
/// the response being written, HTTP/2 sends GOAWAY and lets its streams finish.
trait GracefulShutdown {
    fn shut_down(self: std::pin::Pin<&mut Self>);
}

impl<I, S> GracefulShutdown for hyper::server::conn::http1::UpgradeableConnection<I, S>
where
    S: hyper::service::HttpService<hyper::body::Incoming>,
    S::ResBody: 'static,
    <S::ResBody as http_body::Body>::Error: Into<crate::error::BoxError>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    fn shut_down(self: std::pin::Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

impl<I, S, E, B> GracefulShutdown for hyper::server::conn::http2::Connection<I, S, E>
where
    S: hyper::service::HttpService<hyper::body::Incoming, ResBody = B>,
    S::Error: Into<crate::error::BoxError>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    B: http_body::Body + 'static,
    B::Error: Into<crate::error::BoxError>,
    E: hyper::rt::bounds::Http2ServerConnExec<S::Future, B>,
{
    fn shut_down(self: std::pin::Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

fn ended(served: Result<(), hyper::Error>) {
    if let Err(err) = served {
        // A client that goes away or breaks the protocol ends its own connection only.
        let error = super::handler::error_chain(&err);
        tracing::debug!(%error, "client connection ended with an error");
    }
}
