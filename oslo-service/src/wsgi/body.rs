//! The bodies around the application: the request body it reads ([`Body`], cut when
//! the client stalls for `client_socket_timeout` or falls behind `client_body_min_rate`,
//! and gathered up to `client_body_buffer_size` before the request takes a turn in the
//! pool), and the response body hyper writes ([`LoggedBody`], which counts its bytes for
//! the access log line).

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body::Body as _;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::access_log::{AccessLog, Record};
use super::clients::{Clients, Cut, Served};
use super::io::Stall;

/// The body of a request as the application reads it: hyper's body, failing with
/// [`BodyError::TimedOut`] when the client sends nothing for `client_socket_timeout`.
///
/// An application written for any body type (an axum `Router`, a tower service generic
/// over `http_body::Body`) takes it as it is.
///
/// [`Body::from_bytes`] makes one in memory, to call an application in a test.
#[derive(Debug)]
pub struct Body {
    inner: Inner,
    /// What was read before the application took the body (its first bytes, then
    /// trailers or the error met), given back first, in that order.
    gathered: VecDeque<Result<Frame<Bytes>, BodyError>>,
    timeout: Option<Duration>,
    stall: Stall,
    /// The minimum rate, when there is one.
    pace: Option<Box<Pace>>,
    /// Where a cut is counted, and the client's address for its log line.
    report: Option<(std::sync::Arc<Clients>, std::sync::Arc<str>)>,
    /// The most it may bring, and what it has brought.
    limit: Option<u64>,
    read: u64,
}

/// A body's minimum average rate after a grace: its deadline moves on by a second for
/// every `rate` bytes received (as Apache's mod_reqtimeout counts).
#[derive(Debug)]
pub(super) struct Pace {
    grace: Duration,
    rate: u64,
    started: tokio::time::Instant,
    received: u64,
    timer: super::io::Timer,
}

impl Pace {
    pub(super) fn new(grace: Duration, rate: u64) -> Self {
        Pace {
            grace,
            rate,
            started: tokio::time::Instant::now(),
            received: 0,
            timer: super::io::Timer::default(),
        }
    }

    fn deadline(&self) -> tokio::time::Instant {
        let earned = Duration::try_from_secs_f64(self.received as f64 / self.rate.max(1) as f64)
            .unwrap_or(crate::config::MAX_DURATION)
            .min(crate::config::MAX_DURATION);
        self.started + self.grace + earned
    }

    /// `Ready` once the body is behind its pace.
    fn poll_behind(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let deadline = self.deadline();
        self.timer.poll_until(deadline, cx)
    }
}

#[derive(Debug)]
enum Inner {
    Client(Incoming),
    Memory(Option<Bytes>),
}

/// Why a request body could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// The client sent nothing for `client_socket_timeout` seconds.
    #[error("the client sent nothing of its request body within client_socket_timeout")]
    TimedOut,
    /// The client sent its body slower than `client_body_min_rate`.
    #[error("the client sent its request body slower than client_body_min_rate")]
    TooSlow,
    /// The body is larger than the server's `max_body_size`.
    #[error("the request body is larger than {0} bytes")]
    TooLarge(u64),
    /// The connection failed or the body broke HTTP's rules.
    #[error(transparent)]
    Http(#[from] hyper::Error),
}

impl Body {
    pub(super) fn new(
        inner: Incoming,
        timeout: Option<Duration>,
        pace: Option<Pace>,
        report: (std::sync::Arc<Clients>, std::sync::Arc<str>),
    ) -> Self {
        Body {
            inner: Inner::Client(inner),
            gathered: VecDeque::new(),
            timeout,
            stall: Stall::default(),
            pace: pace.map(Box::new),
            report: Some(report),
            limit: None,
            read: 0,
        }
    }

    /// The body, failing with [`BodyError::TooLarge`] past `limit` bytes.
    pub(super) fn limited(mut self, limit: Option<u64>) -> Self {
        self.limit = limit;
        self
    }

    /// Reads the body from the client, under its deadlines and limit, until it ends,
    /// fails, or `bound` bytes have come: a body that ends within the bound is then
    /// whole in memory, and a slow client has spent its own time, not a turn in the
    /// pool. What was read, and the error that stopped it if any, is given back to the
    /// application first; the rest of a larger body is read from the client as it asks.
    pub(super) async fn gather(&mut self, bound: usize) {
        if self.is_end_stream() {
            return;
        }
        // As announced, within the bound: one allocation for the usual body.
        let announced = self.size_hint().exact().unwrap_or(0);
        let capacity = usize::try_from(announced).unwrap_or(usize::MAX).min(bound);
        // The first frame is kept as it is; only a body in several is copied together.
        let mut first: Option<Bytes> = None;
        let mut joined = BytesMut::new();
        let mut after = None;
        while first.as_ref().map_or(joined.len(), Bytes::len) < bound {
            let frame = match self.frame().await {
                None => break,
                Some(Ok(frame)) => frame,
                Some(Err(error)) => {
                    after = Some(Err(error));
                    break;
                }
            };
            match frame.into_data() {
                Ok(data) if first.is_none() && joined.is_empty() => first = Some(data),
                Ok(data) => {
                    if let Some(first) = first.take() {
                        joined.reserve(capacity.max(first.len().saturating_add(data.len())));
                        joined.extend_from_slice(&first);
                    }
                    joined.extend_from_slice(&data);
                }
                // Trailers: the body's last frame.
                Err(frame) => {
                    after = Some(Ok(frame));
                    break;
                }
            }
        }
        let data = first.or_else(|| (!joined.is_empty()).then(|| joined.freeze()));
        self.gathered.extend(
            data.map(|data| Ok(Frame::data(data)))
                .into_iter()
                .chain(after),
        );
    }

    /// The request waited `waited` for its turn in the pool, reading none of its body
    /// meanwhile: the client is not behind its pace for that.
    pub(super) fn waited(&mut self, waited: Duration) {
        if let Some(pace) = &mut self.pace {
            pace.started = pace.started.checked_add(waited).unwrap_or(pace.started);
        }
    }

    /// A body held in memory: for calling an application without a client.
    ///
    /// ```
    /// let request = http::Request::new(oslo::wsgi::Body::from_bytes("{}"));
    /// # drop(request);
    /// ```
    pub fn from_bytes(bytes: impl Into<Bytes>) -> Self {
        Body {
            inner: Inner::Memory(Some(bytes.into())),
            gathered: VecDeque::new(),
            timeout: None,
            stall: Stall::default(),
            pace: None,
            report: None,
            limit: None,
            read: 0,
        }
    }

    /// An empty body held in memory.
    pub fn empty() -> Self {
        Body {
            inner: Inner::Memory(None),
            gathered: VecDeque::new(),
            timeout: None,
            stall: Stall::default(),
            pace: None,
            report: None,
            limit: None,
            read: 0,
        }
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        if let Some(gathered) = this.gathered.pop_front() {
            return Poll::Ready(Some(gathered));
        }
        let incoming = match &mut this.inner {
            Inner::Client(incoming) => incoming,
            Inner::Memory(bytes) => {
                let frame = bytes
                    .take()
                    .filter(|b| !b.is_empty())
                    .map(|b| Ok(Frame::data(b)));
                return Poll::Ready(frame);
            }
        };
        match Pin::new(incoming).poll_frame(cx) {
            Poll::Pending => {
                let behind = this
                    .pace
                    .as_mut()
                    .is_some_and(|pace| pace.poll_behind(cx).is_ready());
                let stalled = !behind
                    && this
                        .timeout
                        .is_some_and(|timeout| this.stall.poll_expired(timeout, cx).is_ready());
                let error = match (behind, stalled) {
                    (true, _) => BodyError::TooSlow,
                    (false, true) => BodyError::TimedOut,
                    (false, false) => return Poll::Pending,
                };
                if let Some((clients, client_ip)) = &this.report {
                    clients.cut(Cut::SlowBody, client_ip);
                }
                Poll::Ready(Some(Err(error)))
            }
            Poll::Ready(frame) => {
                this.stall.progressed();
                if let Some(data) = frame.as_ref().and_then(|f| f.as_ref().ok()?.data_ref()) {
                    crate::metrics::http_received(data.len());
                }
                if let (Some(limit), Some(Ok(frame))) = (this.limit, &frame) {
                    if let Some(data) = frame.data_ref() {
                        this.read = this.read.saturating_add(data.len() as u64);
                        if this.read > limit {
                            return Poll::Ready(Some(Err(BodyError::TooLarge(limit))));
                        }
                    }
                }
                if let (Some(pace), Some(Ok(frame))) = (&mut this.pace, &frame) {
                    if let Some(data) = frame.data_ref() {
                        pace.received = pace.received.saturating_add(data.len() as u64);
                    }
                }
                Poll::Ready(frame.map(|frame| frame.map_err(BodyError::from)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.gathered.is_empty()
            && match &self.inner {
                Inner::Client(incoming) => incoming.is_end_stream(),
                Inner::Memory(bytes) => bytes.as_ref().is_none_or(Bytes::is_empty),
            }
    }

    fn size_hint(&self) -> SizeHint {
        let rest = match &self.inner {
            Inner::Client(incoming) => incoming.size_hint(),
            Inner::Memory(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
        };
        let gathered: u64 = self
            .gathered
            .iter()
            .filter_map(|frame| Some(frame.as_ref().ok()?.data_ref()?.len() as u64))
            .sum();
        let mut hint = SizeHint::new();
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper.saturating_add(gathered));
        }
        hint.set_lower(rest.lower().saturating_add(gathered));
        hint
    }
}

pin_project_lite::pin_project! {
    /// A response body that writes the access log line once hyper is done with it
    /// (written whole, or dropped when the client went away).
    pub(super) struct LoggedBody<B> {
        #[pin]
        inner: B,
        entry: Option<PendingEntry>,
        // Dropped with the body: the request is served.
        served: Served,
    }

    impl<B> PinnedDrop for LoggedBody<B> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(entry) = this.project().entry.take() {
                entry.write();
            }
        }
    }
}

/// The parts of a line known before the body is written.
pub(super) struct PendingEntry {
    pub(super) log: AccessLog,
    pub(super) client_ip: String,
    pub(super) request_line: String,
    pub(super) status_code: u16,
    pub(super) started: tokio::time::Instant,
    pub(super) unix_time: u64,
    pub(super) body_length: u64,
}

impl<B> LoggedBody<B> {
    pub(super) fn new(inner: B, entry: Option<PendingEntry>, served: Served) -> Self {
        LoggedBody {
            inner,
            entry,
            served,
        }
    }
}

impl PendingEntry {
    fn write(self) {
        let line = self.log.format().render(&Record {
            client_ip: &self.client_ip,
            request_line: &self.request_line,
            status_code: self.status_code,
            body_length: self.body_length,
            wall_seconds: self.started.elapsed().as_secs_f64(),
            unix_time: self.unix_time,
        });
        self.log.write(&line);
    }
}

impl<B: http_body::Body<Data = Bytes>> http_body::Body for LoggedBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                crate::metrics::http_sent(data.len());
                if let Some(entry) = this.entry {
                    entry.body_length += data.len() as u64;
                }
            } else if let Some(trailers) = frame.trailers_ref() {
                this.served.trailers(trailers);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
