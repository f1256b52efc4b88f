//! What stands between hyper and the application for each request: the header line and
//! URL limits, the body gathered (up to `client_body_buffer_size`) before the request
//! takes its turn in the pool, the application's errors and panics turned into a 500
//! (with details only under `wsgi_server_debug`), `Connection: close` once the server is
//! stopping, the access log line, and [`super::Stopping`] in every request's
//! extensions.

use std::any::Any;
use std::convert::Infallible;
use std::future::{Future, poll_fn};
use std::net::IpAddr;
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::Poll;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_TYPE};
use http::{HeaderValue, Request, Response, StatusCode};
use http_body::Body as _;
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::access_log::AccessLog;
use super::app::HttpApp;
use super::body::{Body, LoggedBody, Pace, PendingEntry};
use super::clients::{Client, Clients, Phase, Served};
use super::forwarded::Proxies;
use crate::error::BoxError;
use crate::future::BoxFuture;

/// What every connection of one started server shares.
pub(super) struct Shared {
    /// Re-read by `reset`, so an atomic rather than a copy per connection.
    pub(super) max_header_line: AtomicUsize,
    pub(super) max_url_len: usize,
    pub(super) max_body_size: Option<u64>,
    pub(super) debug: bool,
    pub(super) body_timeout: Option<Duration>,
    /// `client_body_min_rate` and its grace, `client_header_timeout`.
    pub(super) body_pace: Option<(Duration, u64)>,
    /// `client_body_buffer_size`: the most of a body read before a turn in the pool.
    pub(super) body_buffer: usize,
    /// Requests served at once (`wsgi_default_pool_size`).
    pub(super) pool: Arc<Semaphore>,
    /// The server's connections, and its count of clients cut.
    pub(super) clients: Arc<Clients>,
    pub(super) access_log: AccessLog,
    /// Cancelled when the server stops.
    pub(super) stopping: CancellationToken,
    /// Set as the server stops: every response from then on closes its connection. (A
    /// flag of its own: the token's state sits behind a mutex, and this is read for
    /// every response.)
    pub(super) draining: AtomicBool,
    /// The TLS acceptor of `[ssl]`, when the server serves TLS; `reset` replaces it.
    pub(super) tls: std::sync::RwLock<Option<super::tls::Acceptor>>,
    /// Whose proxy headers are believed (`[oslo_middleware]`).
    pub(super) proxies: Proxies,
}

impl Shared {
    pub(super) fn tls(&self) -> Option<super::tls::Acceptor> {
        self.tls
            .read()
            .unwrap_or_else(|poison| poison.into_inner())
            .clone()
    }
}

/// The body of every response: the application's, or one of ours.
pub(super) type ResponseBody<B> = LoggedBody<Either<B, Full<Bytes>>>;

/// The hyper service of one connection.
pub(super) struct Handler<S> {
    pub(super) app: S,
    pub(super) shared: Arc<Shared>,
    pub(super) client_ip: Arc<str>,
    pub(super) client: Arc<Client>,
    /// The socket's peer (`None` on a UNIX socket), and whether it speaks TLS.
    pub(super) peer: Option<IpAddr>,
    pub(super) tls: bool,
}

impl<S> hyper::service::Service<Request<Incoming>> for Handler<S>
where
    S: HttpApp,
{
    type Response = Response<ResponseBody<S::ResponseBody>>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let mut app = self.app.clone();
        let shared = Arc::clone(&self.shared);
        let connection_ip = Arc::clone(&self.client_ip);
        let (peer, tls) = (self.peer, self.tls);
        // The head is whole: its body comes next, if it has one.
        let gathering = !request.body().is_end_stream();
        // An HTTP/2 stream is one of the connection's requests in flight, each with
        // its own turn in the pool; the connection's phase follows them all.
        let http2 = request.version() == http::Version::HTTP_2;
        let mut stream = http2.then(|| self.client.open_stream(gathering));
        if !http2 {
            self.client.set_phase(if gathering {
                Phase::Body
            } else {
                Phase::Request
            });
        }
        let client = Arc::clone(&self.client);
        Box::pin(async move {
            let refused = refusal(&request, &shared);
            let (mut head, incoming) = request.into_parts();
            // What outlives the response (a WebSocket) hears of a stop through it.
            head.extensions
                .insert(super::Stopping::new(shared.stopping.clone()));
            let client_info = shared.proxies.client(peer, tls, &mut head);
            // The access line names the client a trusted proxy named; the socket's
            // deadlines, which cut connections, name the peer.
            let client_ip = match (client_info.proxy(), client_info.addr()) {
                (None, _) => Arc::clone(&connection_ip),
                (Some(_), addr) => super::forwarded::client_ip(addr),
            };
            head.extensions.insert(client_info);
            let tunnel = head.method == http::Method::CONNECT;
            // What the application needs is read before the request takes a turn: a
            // client slow to send it holds its connection, never a turn.
            let answer = match refused {
                Some(refused) => Err(refused),
                None => {
                    let report = (Arc::clone(&shared.clients), Arc::clone(&connection_ip));
                    let pace = shared.body_pace.map(|(grace, rate)| Pace::new(grace, rate));
                    let mut body = Body::new(incoming, shared.body_timeout, pace, report)
                        .limited(shared.max_body_size);
                    body.gather(shared.body_buffer).await;
                    Ok(body)
                }
            };
            // From here the request is being served, until its response has been
            // written (or dropped).
            if let Some(stream) = &mut stream {
                stream.serving();
            } else if gathering {
                client.set_phase(Phase::Request);
            }
            // A turn in the pool: requests, not connections, wait for one.
            let waiting = tokio::time::Instant::now();
            let permit = Arc::clone(&shared.pool).acquire_owned().await.ok();
            let answer = answer.map(|mut body| {
                body.waited(waiting.elapsed());
                body
            });
            let measured = crate::metrics::http_request(head.method.as_str());
            let mut served = Served::new(client, permit, measured, stream);
            let content_type = head.headers.get(CONTENT_TYPE);
            served.measure_grpc(crate::metrics::grpc_call(
                content_type.map(HeaderValue::as_bytes),
                head.uri.path(),
            ));
            served.trace(request_span(&head, &client_ip));
            // `max_requests` counts what the process served.
            crate::service::count_request();
            let started = AccessLog::enabled().then(|| {
                // An HTTP/2 request's URI carries its scheme and authority; the line
                // shows the path, as an HTTP/1.1 request line does.
                let target = match (&head.uri.path_and_query(), http2) {
                    (Some(path), true) => path.as_str().to_owned(),
                    _ => head.uri.to_string(),
                };
                let request_line = format!("{} {} {:?}", head.method, target, head.version);
                (tokio::time::Instant::now(), request_line)
            });
            let response = match answer {
                Err(refused) => refused,
                Ok(body) => {
                    let request = Request::from_parts(head, body);
                    respond(&mut app, request, shared.debug).await
                }
            };
            let (mut parts, body) = response.into_parts();
            served.answered(parts.status.as_u16(), &parts.headers);
            // hyper hands the socket over after these, and only these.
            let upgrades = parts.status == StatusCode::SWITCHING_PROTOCOLS
                || (tunnel && parts.status.is_success());
            // A stop tells an HTTP/2 client with GOAWAY, not with a header HTTP/2
            // forbids; a tunnel there is one stream, and the connection goes on.
            if upgrades && !http2 {
                served.upgrades();
            } else if !upgrades && !http2 && shared.draining.load(Ordering::Relaxed) {
                // An upgrade's `Connection: upgrade` stays: the application, told by
                // `Stopping`, closes what it accepts now.
                parts
                    .headers
                    .insert(CONNECTION, HeaderValue::from_static("close"));
            }
            let entry = started.map(|(started, request_line)| PendingEntry {
                log: shared.access_log.clone(),
                client_ip: client_ip.to_string(),
                request_line,
                status_code: parts.status.as_u16(),
                started,
                unix_time: SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |since| since.as_secs()),
                body_length: 0,
            });
            Ok(Response::from_parts(
                parts,
                LoggedBody::new(body, entry, served),
            ))
        })
    }
}

/// W3C Trace Context's header, named once rather than parsed from a string at each
/// request.
const TRACEPARENT: http::HeaderName = http::HeaderName::from_static("traceparent");

/// The request's span, when traced: a child of the trace its `traceparent` names.
fn request_span(head: &http::request::Parts, client_ip: &str) -> Option<crate::otel::Span> {
    let traceparent = head.headers.get(TRACEPARENT).map(HeaderValue::as_bytes);
    let path = head.uri.path();
    let mut span = crate::otel::server(traceparent, |name| {
        name.push(head.method.as_str());
        name.push(" ");
        name.push(path);
    })?;
    span.text("http.request.method", head.method.as_str());
    span.text("url.path", path);
    span.text("client.address", client_ip);
    let grpc = head
        .headers
        .get(CONTENT_TYPE)
        .is_some_and(|kind| kind.as_bytes().starts_with(b"application/grpc"));
    if grpc {
        span.text("rpc.system", "grpc");
        span.text("rpc.method", path);
    }
    Some(span)
}

/// The answer to a request the server refuses before the application sees it.
fn refusal<B>(
    request: &Request<Incoming>,
    shared: &Shared,
) -> Option<Response<Either<B, Full<Bytes>>>> {
    let url_len = request
        .uri()
        .path_and_query()
        .map_or(0, |p| p.as_str().len());
    if url_len > shared.max_url_len {
        crate::metrics::http_refused("uri_too_long");
        return Some(plain(StatusCode::URI_TOO_LONG, "Request URI Too Long"));
    }
    // Refused on its announced length, before a byte of the body is read: hyper sends
    // `100 Continue` only once the body is read, so a client that waits for it is told
    // 413 instead.
    let announced = request
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    if let (Some(max), Some(length)) = (shared.max_body_size, announced) {
        if length > max {
            crate::metrics::http_refused("body_too_large");
            let mut response = plain(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
            response
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
            return Some(response);
        }
    }
    // RFC 9112, 3.2: an HTTP/1.1 request has exactly one Host header.
    if request.version() == http::Version::HTTP_11
        && request.headers().get_all(http::header::HOST).iter().count() != 1
    {
        crate::metrics::http_refused("bad_host");
        let mut response = plain(
            StatusCode::BAD_REQUEST,
            "Bad Request: one Host header needed",
        );
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
        return Some(response);
    }
    let max_header_line = shared.max_header_line.load(Ordering::Relaxed);
    let too_long = request
        .headers()
        .iter()
        .any(|(name, value)| name.as_str().len() + 2 + value.len() > max_header_line);
    if too_long {
        crate::metrics::http_refused("header_too_long");
        let mut response = plain(StatusCode::BAD_REQUEST, "Header Line Too Long");
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
        return Some(response);
    }
    None
}

/// Runs the application; its errors and panics become a 500.
async fn respond<S, B>(
    app: &mut S,
    request: Request<Body>,
    debug: bool,
) -> Response<Either<B, Full<Bytes>>>
where
    S: tower_service::Service<Request<Body>, Response = Response<B>>,
    S::Error: Into<BoxError>,
{
    let answered = catch_unwind(async {
        poll_fn(|cx| app.poll_ready(cx)).await?;
        app.call(request).await
    })
    .await;
    let details = match answered {
        Ok(Ok(response)) => return response.map(Either::Left),
        Ok(Err(error)) => {
            let error: BoxError = error.into();
            let details = error_chain(&*error);
            tracing::error!(error = %details, "the application failed a request");
            details
        }
        Err(panic) => {
            let details = format!("panic: {}", panic_message(&*panic));
            tracing::error!(error = %details, "the application panicked on a request");
            details
        }
    };
    if debug {
        plain(StatusCode::INTERNAL_SERVER_ERROR, details)
    } else {
        let mut response = Response::new(Either::Right(Full::new(Bytes::new())));
        *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        response
    }
}

fn plain<B>(status: StatusCode, text: impl Into<String>) -> Response<Either<B, Full<Bytes>>> {
    let mut response = Response::new(Either::Right(Full::new(Bytes::from(text.into()))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

pub(super) use crate::error::error_chain;

fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// Polls `future` and turns a panic inside it into an `Err`, so that one bad request
/// costs a 500 instead of its connection.
async fn catch_unwind<F: Future>(future: F) -> Result<F::Output, Box<dyn Any + Send>> {
    let mut future = pin!(future);
    poll_fn(|cx| {
        // Unwind safety holds: after a panic the future is dropped, never polled again.
        match std::panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_is_caught_with_its_message() {
        let caught = catch_unwind(async { panic!("boom {}", 42) }).await;
        assert_eq!(panic_message(&*caught.unwrap_err()), "boom 42");
        assert_eq!(catch_unwind(async { 7 }).await.unwrap(), 7);
    }

    #[derive(Debug, thiserror::Error)]
    #[error("cannot save the server")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn errors_show_their_causes() {
        let outer = Outer(std::io::Error::other("disk full"));
        assert_eq!(error_chain(&outer), "cannot save the server: disk full");
    }
}
