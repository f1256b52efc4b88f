//! The probes' endpoint, in the launcher's top process: `GET` (or `HEAD`) of
//! `/health/live`, `/health/ready` or `/health/startup` over HTTP/1, one request per
//! connection, on TCP or a UNIX socket shared like the HTTP server's (so that an
//! upgrade's successor answers on it too). Its own few lines of HTTP rather than hyper's:
//! a service without the HTTP server has probes too, and a probe asks one line.
//!
//! Probes are few and quick: [`MAX_CONNECTIONS`] at once, each with [`HEAD_TIMEOUT`] to
//! send its request. A newcomer past the limit takes the place of the oldest connection
//! still sending its request, so that clients that say nothing cannot keep a probe out.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use super::Probe;
use crate::config::{Config, HealthOptions};
use crate::error::{Error, Result};

/// Connections held at once.
const MAX_CONNECTIONS: usize = 16;

/// How long a client has to send its request's head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(2);

/// The longest request head read.
const MAX_HEAD: usize = 8192;

/// The longest an exchange lasts once its head is whole: the checks' time, and the
/// client reading the answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// The endpoint's socket name among the shared ones.
const SOCKET: &str = "oslo-health";

/// The running endpoint; dropping it stops it.
#[derive(Debug)]
pub(crate) struct Endpoint {
    _task: crate::future::AbortOnDrop,
}

/// Starts the endpoint `[health]` asks for, in the launcher's top process: `None` when
/// it is off.
pub(crate) fn serve(conf: &Config) -> Result<Option<Endpoint>> {
    let options = conf.group::<HealthOptions>()?;
    if !options.enabled {
        return Ok(None);
    }
    let slots = Arc::new(Slots::default());
    // Through a drain, the probes say "stopping" rather than refuse.
    crate::net::listen_to_the_end(SOCKET);
    let task = match options.unix_socket.clone().filter(|path| !path.is_empty()) {
        Some(path) => {
            let bind = |err| Error::io(format!("cannot serve health probes on {path}"), err);
            let listener =
                crate::net::listen_unix(SOCKET, path.as_ref(), 0o600, 128).map_err(bind)?;
            listener.set_nonblocking(true).map_err(bind)?;
            let listener = tokio::net::UnixListener::from_std(listener).map_err(bind)?;
            tracing::info!(socket = %path, "serving health probes");
            tokio::spawn(async move {
                loop {
                    match listener.accept().await {
                        Ok((stream, _)) => admit(&slots, stream),
                        Err(err) => pause(err).await,
                    }
                }
            })
        }
        None => {
            let address = format!("{}:{}", options.host, options.port.0);
            let bind = |err| Error::io(format!("cannot serve health probes on {address}"), err);
            let listener = crate::net::listen(SOCKET, (options.host.as_str(), options.port.0))
                .map_err(bind)?;
            listener.set_nonblocking(true).map_err(bind)?;
            let local = listener.local_addr().map_err(bind)?;
            let listener = tokio::net::TcpListener::from_std(listener).map_err(bind)?;
            tracing::info!("serving health probes at http://{local}/health/ready");
            tokio::spawn(async move {
                loop {
                    match listener.accept().await {
                        Ok((stream, _)) => admit(&slots, stream),
                        Err(err) => pause(err).await,
                    }
                }
            })
        }
    };
    Ok(Some(Endpoint {
        _task: crate::future::AbortOnDrop(task),
    }))
}

/// Out of descriptors, say: the next accept waits a little.
async fn pause(err: std::io::Error) {
    tracing::debug!(error = %err, "cannot accept a health probe");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// The connections held, and those of them still sending their request, oldest first.
#[derive(Debug, Default)]
struct Slots {
    held: Mutex<Held>,
}

#[derive(Debug, Default)]
struct Held {
    count: usize,
    /// Still sending their request: each one's id and what evicts it.
    waiting: VecDeque<(u64, CancellationToken)>,
    next_id: u64,
}

/// A held connection: its place is given back when it is dropped.
struct Slot {
    slots: Arc<Slots>,
    id: u64,
    evicted: CancellationToken,
}

impl Slots {
    fn take(self: &Arc<Self>) -> Option<Slot> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let Held {
            count,
            waiting,
            next_id,
        } = &mut *held;
        if *count >= MAX_CONNECTIONS {
            // The oldest still sending its request makes way (its place is the
            // newcomer's); none: the newcomer goes.
            let (_, oldest) = waiting.pop_front()?;
            oldest.cancel();
        } else {
            *count += 1;
        }
        *next_id += 1;
        let evicted = CancellationToken::new();
        waiting.push_back((*next_id, evicted.clone()));
        Some(Slot {
            slots: Arc::clone(self),
            id: *next_id,
            evicted,
        })
    }
}

impl Slot {
    /// Its request is whole: it is no longer the one to make way.
    fn answering(&self) {
        let mut held = self.slots.held.lock().unwrap_or_else(|p| p.into_inner());
        held.waiting.retain(|(id, _)| *id != self.id);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self.slots.held.lock().unwrap_or_else(|p| p.into_inner());
        held.waiting.retain(|(id, _)| *id != self.id);
        // An evicted connection's place was taken over already.
        if !self.evicted.is_cancelled() {
            held.count = held.count.saturating_sub(1);
        }
    }
}

fn admit<S>(slots: &Arc<Slots>, stream: S)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Some(slot) = slots.take() else {
        tracing::debug!("every health connection is being answered, one more closed");
        return;
    };
    tokio::spawn(exchange(stream, slot));
}

/// One connection's request and answer.
async fn exchange<S>(mut stream: S, slot: Slot)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let head = tokio::select! {
        head = tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut stream)) => head,
        () = slot.evicted.cancelled() => return,
    };
    let Ok(head) = head else {
        return;
    };
    slot.answering();
    let response = match head {
        Some(head) => answer(&head).await,
        None => response(400, "text/plain", b"Bad Request\n".to_vec(), false),
    };
    let _ = tokio::time::timeout(ANSWER_TIMEOUT, async {
        stream.write_all(&response).await?;
        stream.shutdown().await
    })
    .await;
}

/// The request's head, up to its blank line; `None` when it is too long or the client
/// closes before its end.
async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> Option<Vec<u8>> {
    let mut head = Vec::with_capacity(256);
    let mut chunk = [0; 1024];
    loop {
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        head.extend_from_slice(&chunk[..read]);
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
            return Some(head);
        }
        if head.len() > MAX_HEAD {
            return None;
        }
    }
}

async fn answer(head: &[u8]) -> Vec<u8> {
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return response(400, "text/plain", b"Bad Request\n".to_vec(), false);
    };
    let head_only = method == "HEAD";
    if method != "GET" && !head_only {
        return response(405, "text/plain", b"Method Not Allowed\n".to_vec(), false);
    }
    let path = target.split('?').next().unwrap_or(target);
    let Some(probe) = Probe::from_path(path) else {
        let text = b"Not Found: the probes are /health/live, /health/ready and /health/startup\n";
        return response(404, "text/plain", text.to_vec(), head_only);
    };
    let report = super::probe(probe).await;
    let status = match report.status() {
        super::Status::Pass => 200,
        super::Status::Fail => 503,
    };
    response(
        status,
        "application/health+json",
        report.to_json().into_bytes(),
        head_only,
    )
}

fn response(status: u16, content_type: &str, body: Vec<u8>, head_only: bool) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Service Unavailable",
    };
    let mut response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        response.extend_from_slice(&body);
    }
    response
}
