//! The client connections of one started server, and what each is doing: waiting for a
//! request (idle), receiving a request head, receiving its body before the request takes
//! a turn in the pool, having a request served, or upgraded (its socket handed to the
//! application, as a WebSocket). The phase decides which deadline a connection's reads
//! have and whether a stop closes it at once. Clients cut for sending nothing useful
//! are counted by cause.
//!
//! At `wsgi_max_connections`, a newcomer takes the place of the connection that has
//! made the least progress: of those with no request being served (idle, sending a
//! head, or sending a body not yet whole), the one that has sent the fewest bytes of its
//! current request (none, when idle), and of those alike, the one longest in its phase.
//! A crowd that sends nothing, or a byte, or a head a byte at a time, thus makes way for
//! a client that sends its request; a request being served, or an upgraded connection,
//! is never closed for room.
//!
//! An HTTP/2 connection carries many requests at once, one per stream: its phase is
//! that of its streams taken together, request while any is being served, body while
//! any is still gathering its body (and none is served), idle when it has none. Bytes
//! that arrive on it while idle (a PING, SETTINGS) are not the start of a request, so
//! they leave it idle.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Waker;

use tokio::sync::{Notify, OwnedSemaphorePermit};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// What a connection is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum Phase {
    /// Waiting for the first byte of a request: a new connection, or a keep-alive one
    /// between requests.
    Idle = 0,
    /// The first bytes of a request head arrived; the rest has not.
    Head = 1,
    /// The head is whole; its body is being read, up to `client_body_buffer_size`,
    /// before the request takes a turn in the pool.
    Body = 2,
    /// A request is being served: waiting for its turn, the rest of its body read, its
    /// response written.
    Request = 3,
    /// Switched to another protocol (a WebSocket): the socket is the application's until
    /// it drops it. Like a request being served, it holds a stop and is never closed for
    /// room; unlike one, it holds no turn in the pool, and may be silent for long.
    Upgraded = 4,
}

impl Phase {
    /// Whether the connection may be closed to make room: no request is being served,
    /// and the socket is not the application's.
    fn evictable(self) -> bool {
        !matches!(self, Phase::Request | Phase::Upgraded)
    }

    /// Whether the connection is in use: a request being served, or an upgraded one. A
    /// stop waits for it instead of closing it.
    pub(super) fn in_use(self) -> bool {
        matches!(self, Phase::Request | Phase::Upgraded)
    }
}

/// Why a client was cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Cut {
    /// Idle past `client_socket_timeout`.
    Idle,
    /// Its request head took longer than `client_header_timeout`.
    SlowHead,
    /// Its request body came slower than `client_body_min_rate`, or stalled.
    SlowBody,
    /// Its TLS handshake took longer than `client_header_timeout`, or failed.
    Handshake,
    /// It did not read its response within `client_socket_timeout`.
    SlowReader,
    /// It had made the least progress when a newcomer needed its place at
    /// `wsgi_max_connections`.
    Evicted,
    /// It sent more HTTP/2 SETTINGS and PING frames than a second allows.
    ControlFlood,
}

impl Cut {
    const ALL: [Cut; 7] = [
        Cut::Idle,
        Cut::SlowHead,
        Cut::SlowBody,
        Cut::Handshake,
        Cut::SlowReader,
        Cut::Evicted,
        Cut::ControlFlood,
    ];

    /// The cause as log lines name it.
    pub(super) fn name(self) -> &'static str {
        match self {
            Cut::Idle => "idle",
            Cut::SlowHead => "slow_head",
            Cut::SlowBody => "slow_body",
            Cut::Handshake => "tls_handshake",
            Cut::SlowReader => "slow_reader",
            Cut::Evicted => "evicted",
            Cut::ControlFlood => "control_flood",
        }
    }
}

/// One connection's state, shared by its task, its socket's reads and its requests.
#[derive(Debug)]
pub(super) struct Client {
    phase: AtomicU8,
    /// Milliseconds since the server started when the phase last changed.
    since: AtomicU64,
    /// Bytes read from the socket since the connection was last idle: how far its
    /// current request has come.
    received: AtomicU64,
    epoch: Instant,
    /// Cancelled to close the connection at once (eviction).
    pub(super) close: CancellationToken,
    /// The read waiting on the socket: a new phase may give it a new deadline.
    reader: Mutex<Option<Waker>>,
    /// Set once the connection is known to speak HTTP/2.
    http2: AtomicBool,
    /// An HTTP/2 connection's streams: still gathering their body, being served.
    streams: Mutex<StreamCount>,
    /// Woken when an HTTP/2 connection's streams change.
    streams_changed: Notify,
}

/// An HTTP/2 connection's streams in flight, by what they are doing.
#[derive(Debug, Default)]
struct StreamCount {
    gathering: usize,
    served: usize,
    /// Every stream the connection has opened.
    opened: u64,
}

impl StreamCount {
    fn phase(&self) -> Phase {
        if self.served > 0 {
            Phase::Request
        } else if self.gathering > 0 {
            Phase::Body
        } else {
            Phase::Idle
        }
    }
}

impl Client {
    pub(super) fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            0 => Phase::Idle,
            1 => Phase::Head,
            2 => Phase::Body,
            3 => Phase::Request,
            _ => Phase::Upgraded,
        }
    }

    pub(super) fn set_phase(&self, phase: Phase) {
        self.since.store(millis(self.epoch), Ordering::Release);
        if phase == Phase::Idle {
            self.received.store(0, Ordering::Release);
        }
        let was = self.phase.swap(phase as u8, Ordering::AcqRel);
        let idle = Phase::Idle as u8;
        if was == idle && phase != Phase::Idle {
            crate::metrics::http_idle(-1);
        } else if was != idle && phase == Phase::Idle {
            crate::metrics::http_idle(1);
        }
        let reader = self
            .reader
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(reader) = reader {
            reader.wake();
        }
    }

    /// Remembers the read that waits on the socket, to wake it when the phase changes.
    pub(super) fn waiting_reader(&self, waker: &Waker) {
        let mut reader = self.reader.lock().unwrap_or_else(PoisonError::into_inner);
        if !reader.as_ref().is_some_and(|known| known.will_wake(waker)) {
            *reader = Some(waker.clone());
        }
    }

    /// `bytes` more were read from the socket.
    pub(super) fn received(&self, bytes: usize) {
        let bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
        let _ = self
            .received
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |before| {
                Some(before.saturating_add(bytes))
            });
    }

    /// How far the connection has come, least first: the bytes of its current request,
    /// then how recently its phase began.
    fn progress(&self) -> (u64, u64) {
        (
            self.received.load(Ordering::Acquire),
            self.since.load(Ordering::Acquire),
        )
    }

    /// The connection speaks HTTP/2: its phase follows its streams from now on.
    pub(super) fn set_http2(&self) {
        self.http2.store(true, Ordering::Release);
    }

    pub(super) fn is_http2(&self) -> bool {
        self.http2.load(Ordering::Acquire)
    }

    /// A new HTTP/2 stream, still to gather its body or not; the connection's phase
    /// follows it until the stream is dropped.
    pub(super) fn open_stream(self: &Arc<Self>, gathering: bool) -> Stream {
        self.count_streams(|count| {
            count.opened = count.opened.saturating_add(1);
            if gathering {
                count.gathering += 1;
            } else {
                count.served += 1;
            }
        });
        Stream {
            client: Arc::clone(self),
            serving: !gathering,
        }
    }

    /// Changes the count of streams and the phase with it, under one lock so that
    /// streams starting and ending at once leave the phase right.
    fn count_streams(&self, change: impl FnOnce(&mut StreamCount)) {
        let mut count = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        change(&mut count);
        let phase = count.phase();
        if self.phase() != phase {
            self.set_phase(phase);
        }
        drop(count);
        self.streams_changed.notify_waiters();
    }

    /// Resolves once an HTTP/2 connection's streams are as `wanted` says.
    async fn streams_until(&self, wanted: impl Fn(&StreamCount) -> bool) {
        loop {
            let changed = self.streams_changed.notified();
            let mut changed = std::pin::pin!(changed);
            changed.as_mut().enable();
            if wanted(&self.streams.lock().unwrap_or_else(PoisonError::into_inner)) {
                return;
            }
            changed.await;
        }
    }

    /// Resolves once an HTTP/2 connection has no stream being served.
    pub(super) async fn done_serving(&self) {
        self.streams_until(|count| count.served == 0).await;
    }

    /// Resolves once an HTTP/2 connection has had a stream, and has none in flight.
    pub(super) async fn answered_once(&self) {
        self.streams_until(|count| count.opened > 0 && count.phase() == Phase::Idle)
            .await;
    }

    /// When the current phase began.
    pub(super) fn phase_started(&self) -> Instant {
        self.epoch + std::time::Duration::from_millis(self.since.load(Ordering::Acquire))
    }
}

/// One HTTP/2 stream's share in its connection's phase, from its head to its
/// response's end (or its reset).
#[derive(Debug)]
pub(super) struct Stream {
    client: Arc<Client>,
    serving: bool,
}

impl Stream {
    /// The stream's body is gathered: it is being served now.
    pub(super) fn serving(&mut self) {
        if !self.serving {
            self.serving = true;
            self.client.count_streams(|count| {
                count.gathering = count.gathering.saturating_sub(1);
                count.served += 1;
            });
        }
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        let serving = self.serving;
        self.client.count_streams(|count| {
            if serving {
                count.served = count.served.saturating_sub(1);
            } else {
                count.gathering = count.gathering.saturating_sub(1);
            }
        });
    }
}

/// A request being served: its turn in the pool, given back (and its connection idle
/// again, or upgraded, its metrics recorded) once its response is written or dropped.
#[derive(Debug)]
pub(super) struct Served {
    client: Arc<Client>,
    _permit: Option<OwnedSemaphorePermit>,
    measured: Option<crate::metrics::HttpRequest>,
    /// A gRPC call's metrics, whose outcome comes with the response's trailers.
    grpc: Option<crate::metrics::GrpcCall>,
    /// The response switches protocols: the socket goes to the application next.
    upgrades: bool,
    /// An HTTP/2 stream: its end, not the response's, decides the connection's phase.
    stream: Option<Stream>,
    /// The request's span, sent once the response is written (or dropped).
    span: Option<crate::otel::Span>,
}

impl Served {
    pub(super) fn new(
        client: Arc<Client>,
        permit: Option<OwnedSemaphorePermit>,
        measured: Option<crate::metrics::HttpRequest>,
        stream: Option<Stream>,
    ) -> Self {
        Served {
            client,
            _permit: permit,
            measured,
            grpc: None,
            upgrades: false,
            stream,
            span: None,
        }
    }

    /// The response hands the socket to the application (`101 Switching Protocols`, or
    /// a tunnel): once it is written, the connection is upgraded, not idle.
    pub(super) fn upgrades(&mut self) {
        self.upgrades = true;
    }

    /// Records the request as a gRPC call too.
    pub(super) fn measure_grpc(&mut self, call: Option<crate::metrics::GrpcCall>) {
        self.grpc = call;
    }

    /// Traces the request in `span`.
    pub(super) fn trace(&mut self, span: Option<crate::otel::Span>) {
        self.span = span;
    }

    /// The status and headers the request is answered with, for its metrics.
    pub(super) fn answered(&mut self, status: u16, headers: &http::HeaderMap) {
        if let Some(span) = &mut self.span {
            span.number("http.response.status_code", i64::from(status));
            if status >= 500 {
                span.fail(status.to_string());
            }
        }
        if let Some(measured) = &mut self.measured {
            measured.answered(status);
        }
        if let Some(call) = &mut self.grpc {
            call.answered(status);
        }
        // A trailers-only answer (an error) has its status among the headers.
        self.trailers(headers);
    }

    /// The response's trailers: a gRPC call's status.
    pub(super) fn trailers(&mut self, trailers: &http::HeaderMap) {
        let Some(status) = trailers.get("grpc-status") else {
            return;
        };
        if let Some(call) = &mut self.grpc {
            call.status(status.as_bytes());
        }
        let code = std::str::from_utf8(status.as_bytes())
            .ok()
            .and_then(|code| code.trim().parse::<u8>().ok());
        if let (Some(span), Some(code)) = (&mut self.span, code) {
            span.number("rpc.grpc.status_code", i64::from(code));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        // The stream's own drop counts it out; the connection's other streams go on.
        if self.stream.take().is_some() {
            return;
        }
        self.client.set_phase(if self.upgrades {
            Phase::Upgraded
        } else {
            Phase::Idle
        });
    }
}

fn millis(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The connections that count against the limit: those not already told to close.
fn live(open: &HashMap<u64, Arc<Client>>) -> usize {
    open.values()
        .filter(|client| !client.close.is_cancelled())
        .count()
}

/// The connection to close for a newcomer: of those with no request being served and
/// not already told to close (`except` aside), the one that has made the least
/// progress.
fn least_progress(open: &HashMap<u64, Arc<Client>>, except: Option<u64>) -> Option<&Arc<Client>> {
    open.iter()
        .filter(|(id, client)| {
            Some(**id) != except && client.phase().evictable() && !client.close.is_cancelled()
        })
        .map(|(_, client)| client)
        .min_by_key(|client| client.progress())
}

/// The connections of one started server.
#[derive(Debug)]
pub(super) struct Clients {
    epoch: Instant,
    limit: usize,
    open: Mutex<HashMap<u64, Arc<Client>>>,
    next_id: AtomicU64,
    /// Woken when a connection ends, for an accept loop waiting at the limit.
    ended: Notify,
    cuts: [AtomicU64; Cut::ALL.len()],
}

/// A connection's place among the server's; dropping it ends the connection's count.
#[derive(Debug)]
pub(super) struct Registered {
    clients: Arc<Clients>,
    id: u64,
    pub(super) client: Arc<Client>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        crate::metrics::http_connections(-1);
        if self.client.phase() == Phase::Idle {
            crate::metrics::http_idle(-1);
        }
        self.clients
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id);
        self.clients.ended.notify_one();
    }
}

impl Clients {
    /// At most `limit` connections (at least 1).
    pub(super) fn new(limit: usize) -> Arc<Self> {
        Arc::new(Clients {
            epoch: Instant::now(),
            limit: limit.max(1),
            open: Mutex::default(),
            next_id: AtomicU64::new(0),
            ended: Notify::new(),
            cuts: Default::default(),
        })
    }

    pub(super) fn limit(&self) -> usize {
        self.limit
    }

    pub(super) fn count(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Client>>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until a new connection may be accepted: below the limit, or at it with a
    /// connection that may make room. Nothing is closed yet: that waits for the newcomer
    /// ([`Clients::register`]), so that no connection goes for a client that never
    /// comes.
    pub(super) async fn room(&self) {
        loop {
            let ended = self.ended.notified();
            {
                let open = self.lock();
                // Counted one by one only at the limit.
                if open.len() < self.limit
                    || live(&open) < self.limit
                    || least_progress(&open, None).is_some()
                {
                    return;
                }
            }
            // Requests finish and clients go; a phase change wakes nobody, so look again
            // now and then too.
            let _ = tokio::time::timeout(std::time::Duration::from_millis(100), ended).await;
        }
    }

    /// A new connection, idle. Over the limit, the connections that have made the least
    /// progress (the newcomer aside) are told to close until it holds again, or none is
    /// left to close; those already told no longer count.
    pub(super) fn register(self: &Arc<Self>) -> Registered {
        let client = Arc::new(Client {
            phase: AtomicU8::new(Phase::Idle as u8),
            since: AtomicU64::new(millis(self.epoch)),
            received: AtomicU64::new(0),
            epoch: self.epoch,
            close: CancellationToken::new(),
            reader: Mutex::new(None),
            http2: AtomicBool::new(false),
            streams: Mutex::default(),
            streams_changed: Notify::new(),
        });
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        {
            let mut open = self.lock();
            open.insert(id, Arc::clone(&client));
            // Counted one by one only past the limit.
            let over = if open.len() > self.limit {
                live(&open).saturating_sub(self.limit)
            } else {
                0
            };
            for _ in 0..over {
                let Some(least) = least_progress(&open, Some(id)) else {
                    break;
                };
                least.close.cancel();
            }
        }
        crate::metrics::http_connections(1);
        crate::metrics::http_idle(1);
        Registered {
            clients: Arc::clone(self),
            id,
            client,
        }
    }

    /// Counts a client cut for `cause`, and logs it with the count so far.
    pub(super) fn cut(&self, cause: Cut, client_ip: &str) {
        let index = Cut::ALL.iter().position(|c| *c == cause).unwrap_or(0);
        let count = self.cuts[index].fetch_add(1, Ordering::Relaxed) + 1;
        crate::metrics::http_cut(cause.name());
        tracing::info!(
            client = client_ip,
            cause = cause.name(),
            count,
            "client connection cut"
        );
    }

    /// How many clients were cut for `cause`.
    #[cfg(test)]
    pub(super) fn cut_count(&self, cause: Cut) -> u64 {
        let index = Cut::ALL.iter().position(|c| *c == cause).unwrap_or(0);
        self.cuts[index].load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn later() {
        tokio::time::advance(Duration::from_secs(1)).await;
    }

    fn told(registered: &Registered) -> bool {
        registered.client.close.is_cancelled()
    }

    #[tokio::test(start_paused = true)]
    async fn at_the_limit_the_longest_idle_goes_and_busy_ones_stay() {
        let clients = Clients::new(3);
        let oldest = clients.register();
        later().await;
        let busy = clients.register();
        busy.client.set_phase(Phase::Request);
        later().await;
        let newer = clients.register();
        assert_eq!(clients.count(), 3);
        clients.room().await;
        // Room is there, but nobody goes before a newcomer comes.
        assert!(!told(&oldest));
        let fourth = clients.register();
        assert!(told(&oldest));
        assert!(!told(&busy) && !told(&newer) && !told(&fourth));
        drop(oldest);
        // All busy: the next one waits for a connection to end.
        newer.client.set_phase(Phase::Request);
        fourth.client.set_phase(Phase::Request);
        let waiting = tokio::spawn({
            let clients = Arc::clone(&clients);
            async move { clients.room().await }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!waiting.is_finished());
        drop(busy);
        waiting.await.unwrap();
        clients.cut(Cut::SlowHead, "127.0.0.1");
        assert_eq!(clients.cut_count(Cut::SlowHead), 1);
    }

    /// The rule, whatever the phases: the fewest bytes of the current request first (an
    /// idle connection has none), then the longest in its phase; never a request being
    /// served, never the newcomer.
    #[tokio::test(start_paused = true)]
    async fn the_least_progress_goes_first_idle_or_mid_head_or_mid_body() {
        let clients = Clients::new(5);
        // Oldest: a body being gathered, 300 bytes in.
        let body = clients.register();
        body.client.set_phase(Phase::Head);
        body.client.received(300);
        body.client.set_phase(Phase::Body);
        later().await;
        // A head of one byte, then one of ten.
        let one_byte = clients.register();
        one_byte.client.set_phase(Phase::Head);
        one_byte.client.received(1);
        later().await;
        let ten_bytes = clients.register();
        ten_bytes.client.set_phase(Phase::Head);
        ten_bytes.client.received(10);
        later().await;
        // Idle after a request served: the bytes of that request no longer count.
        let idle = clients.register();
        idle.client.set_phase(Phase::Head);
        idle.client.received(5000);
        idle.client.set_phase(Phase::Request);
        idle.client.set_phase(Phase::Idle);
        later().await;
        // Served now, with fewer bytes than any: never closed for room.
        let served = clients.register();
        served.client.set_phase(Phase::Request);

        let order = [&idle, &one_byte, &ten_bytes, &body];
        let mut newcomers = Vec::new();
        for going in 0..order.len() {
            clients.room().await;
            let newcomer = clients.register();
            for (index, other) in order.iter().enumerate() {
                assert_eq!(
                    told(other),
                    index <= going,
                    "newcomer {going}, client {index}"
                );
            }
            assert!(!told(&served) && !told(&newcomer));
            // Its request is whole at once, as a real client's.
            newcomer.client.set_phase(Phase::Request);
            newcomers.push(newcomer);
        }
        // A brand-new connection is idle: the next to go if it is still silent.
        newcomers[0].client.set_phase(Phase::Idle);
        clients.room().await;
        let last = clients.register();
        assert!(told(&newcomers[0]));
        assert!(!newcomers[1..].iter().any(told) && !told(&last) && !told(&served));
    }

    /// A WebSocket is silent and has sent few bytes, yet it is in use: it counts
    /// against the limit and is never closed for room.
    #[tokio::test(start_paused = true)]
    async fn an_upgraded_connection_counts_and_is_never_closed_for_room() {
        let clients = Clients::new(2);
        let socket = clients.register();
        let mut served = Served::new(Arc::clone(&socket.client), None, None, None);
        served.upgrades();
        drop(served);
        assert_eq!(socket.client.phase(), Phase::Upgraded);
        later().await;
        let idle = clients.register();
        later().await;
        let _newcomer = clients.register();
        assert!(told(&idle) && !told(&socket));
        // With only in-use connections left, a newcomer waits for one to end.
        drop(idle);
        let busy = clients.register();
        busy.client.set_phase(Phase::Request);
        drop(_newcomer);
        let waiting = tokio::spawn({
            let clients = Arc::clone(&clients);
            async move { clients.room().await }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!waiting.is_finished());
        drop(socket);
        waiting.await.unwrap();
    }

    /// An HTTP/2 connection is served while any stream is, gathering while any stream
    /// gathers its body and none is served, idle with none: never closed for room with
    /// a stream being served, closed like an idle one once its streams are done.
    #[tokio::test(start_paused = true)]
    async fn an_http2_connection_is_in_use_while_any_stream_is_served() {
        let clients = Clients::new(2);
        let h2 = clients.register();
        h2.client.set_http2();
        let mut uploading = h2.client.open_stream(true);
        assert_eq!(h2.client.phase(), Phase::Body);
        let quick = h2.client.open_stream(false);
        assert_eq!(h2.client.phase(), Phase::Request);
        let served = Served::new(Arc::clone(&h2.client), None, None, Some(quick));
        later().await;
        let idle = clients.register();
        later().await;
        let _newcomer = clients.register();
        assert!(told(&idle) && !told(&h2));
        // One stream done, the other now served: still in use.
        uploading.serving();
        drop(served);
        assert_eq!(h2.client.phase(), Phase::Request);
        drop(uploading);
        assert_eq!(h2.client.phase(), Phase::Idle);
        h2.client.answered_once().await;
        h2.client.done_serving().await;
        drop((idle, _newcomer));
        later().await;
        let another = clients.register();
        let _last = clients.register();
        assert!(told(&h2) && !told(&another));
    }

    #[tokio::test(start_paused = true)]
    async fn among_heads_alike_the_longest_in_its_phase_goes() {
        let clients = Clients::new(2);
        let early = clients.register();
        let late = clients.register();
        later().await;
        late.client.set_phase(Phase::Head);
        late.client.received(1);
        later().await;
        early.client.set_phase(Phase::Head);
        early.client.received(1);
        let _newcomer = clients.register();
        assert!(told(&late) && !told(&early));
    }

    /// Those told to close no longer count: one newcomer, one connection closed, however
    /// long the others take to go.
    #[tokio::test(start_paused = true)]
    async fn each_newcomer_closes_one_and_the_told_ones_do_not_count() {
        let clients = Clients::new(2);
        let first = clients.register();
        later().await;
        let second = clients.register();
        later().await;
        let third = clients.register();
        assert!(told(&first) && !told(&second));
        later().await;
        let fourth = clients.register();
        assert!(told(&second) && !told(&third) && !told(&fourth));
        assert_eq!(clients.count(), 4);
        // Nobody left to close: the one over the limit is waited for.
        third.client.set_phase(Phase::Request);
        fourth.client.set_phase(Phase::Request);
        drop((first, second));
        let waiting = tokio::spawn({
            let clients = Arc::clone(&clients);
            async move { clients.room().await }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!waiting.is_finished());
        third.client.set_phase(Phase::Idle);
        waiting.await.unwrap();
    }
}
