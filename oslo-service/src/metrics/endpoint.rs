//! The host's metrics endpoint: `GET /metrics` over HTTP/1.1, one request per
//! connection, on a socket shared like the HTTP server's (so that a binary upgrade's
//! successor serves on it too). Scrapers are few and known: a handful of connections
//! at once, each with a few seconds to send its request, and the whole exchange bounded.
//! A newcomer takes the place of a connection that has not sent its request yet, so
//! that clients saying nothing cannot keep a scraper out. The text is OpenMetrics or
//! the Prometheus text format 0.0.4, as the scraper's `Accept` header asks.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};

use super::connections::{Admitted, Connections, Progress, Watched};
use super::families::Role;
use super::format::Format;
use super::host::{self, Part};
use super::settings::{self, Settings};
use super::{MetricFamily, WorkerMetrics, record, registry};
use crate::config::Config;
use crate::error::{Error, Result};

/// Connections held at once. A connection beyond them takes the place of one that has
/// not sent its request yet, or is closed at once when every one is being answered.
const MAX_CONNECTIONS: usize = 8;

/// How long a client has to send its request's head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest a connection lasts beyond the workers' time to answer: its head, the
/// encoding, and the client reading the answer.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(15);

/// The endpoint's socket name among the shared ones.
const SOCKET: &str = "oslo-metrics";

/// The running endpoint; dropping it stops it.
#[derive(Debug)]
pub(crate) struct Endpoint {
    _task: crate::future::AbortOnDrop,
}

/// Starts the endpoint `[metrics]` asks for, in the launcher's top process: `None` when
/// metrics are off. `workers` collects the metrics of a launcher's workers.
pub(crate) fn serve(
    conf: &Config,
    workers: Option<Arc<dyn WorkerMetrics>>,
) -> Result<Option<Endpoint>> {
    let Some(settings) = settings::read(&conf.snapshot())? else {
        return Ok(None);
    };
    let Settings {
        host,
        port,
        worker_timeout,
    } = settings;
    let address = format!("{host}:{port}");
    let bind = |err| Error::io(format!("cannot serve metrics on {address}"), err);
    let listener = crate::net::listen(SOCKET, (host.as_str(), port)).map_err(bind)?;
    listener.set_nonblocking(true).map_err(bind)?;
    let local = listener.local_addr().map_err(bind)?;
    let listener = tokio::net::TcpListener::from_std(listener).map_err(bind)?;
    tracing::info!("serving metrics at http://{local}/metrics");
    let connections = Connections::new(MAX_CONNECTIONS);
    let task = tokio::spawn(async move {
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::debug!(error = %err, "cannot accept a metrics client");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Some(admitted) = connections.admit() else {
                tracing::debug!("every metrics connection is being answered, one more closed");
                continue;
            };
            tokio::spawn(exchange(stream, admitted, workers.clone(), worker_timeout));
        }
    });
    Ok(Some(Endpoint {
        _task: crate::future::AbortOnDrop(task),
    }))
}

/// One connection's request and answer, bounded in time, ended early by an eviction.
async fn exchange(
    stream: tokio::net::TcpStream,
    admitted: Admitted,
    workers: Option<Arc<dyn WorkerMetrics>>,
    worker_timeout: Duration,
) {
    let connection = Arc::clone(&admitted.connection);
    let service = hyper::service::service_fn(move |request| {
        // A whole head: from now on the connection keeps its slot.
        connection.reached(Progress::Answering);
        let workers = workers.clone();
        async move { Ok::<_, Infallible>(answer(request, workers.as_deref(), worker_timeout).await) }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .keep_alive(false);
    let stream = Watched::new(stream, Arc::clone(&admitted.connection));
    let served = http.serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = tokio::time::timeout(worker_timeout + EXCHANGE_TIMEOUT, served) => {}
        () = admitted.connection.evicted.cancelled() => {
            tracing::debug!("a metrics connection closed for a newcomer before its request was whole");
        }
    }
}

async fn answer(
    request: Request<Incoming>,
    workers: Option<&dyn WorkerMetrics>,
    worker_timeout: Duration,
) -> Response<Full<Bytes>> {
    if request.uri().path() != "/metrics" {
        return plain(
            StatusCode::NOT_FOUND,
            "Not Found: the metrics are at /metrics\n",
        );
    }
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n");
    }
    let format = Format::negotiate(request.headers().get_all(header::ACCEPT));
    let body = host::text(scrape(workers, worker_timeout).await, format);
    let mut response = Response::new(Full::new(Bytes::from(body)));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(format.content_type()),
    );
    response
}

/// The families of the host: this process's metrics, then its workers'.
async fn scrape(workers: Option<&dyn WorkerMetrics>, timeout: Duration) -> Vec<MetricFamily> {
    let (collected, role) = match workers {
        Some(workers) => (workers.collect(timeout).await, Role::Parent),
        None => (super::Collected::default(), Role::Alone),
    };
    record::missed_workers(collected.missed);
    let mut parts = vec![Part {
        labels: Vec::new(),
        families: registry::families(role),
    }];
    parts.extend(collected.parts);
    host::merge(parts)
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response
}
