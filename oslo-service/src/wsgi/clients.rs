//! The client connections of one started server, and what each is doing: waiting for a
//! request (idle), receiving a request head, or having a request served. The phase
//! decides which deadline a connection's reads have, whether a stop closes it at once,
//! and which connection goes when the server holds as many as it may: the one idle
//! the longest. Clients cut for sending nothing useful are counted by cause.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
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
    /// A request is being served: its body read, its response written.
    Request = 2,
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
    /// It was the longest idle when the server held `wsgi_max_connections`.
    Evicted,
}

impl Cut {
    const ALL: [Cut; 6] = [
        Cut::Idle,
        Cut::SlowHead,
        Cut::SlowBody,
        Cut::Handshake,
        Cut::SlowReader,
        Cut::Evicted,
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
        }
    }
}

/// One connection's state, shared by its task, its socket's reads and its requests.
#[derive(Debug)]
pub(super) struct Client {
    phase: AtomicU8,
    /// Milliseconds since the server started when the phase last changed.
    since: AtomicU64,
    epoch: Instant,
    /// Cancelled to close the connection at once (eviction).
    pub(super) close: CancellationToken,
    /// The read waiting on the socket: a new phase may give it a new deadline.
    reader: Mutex<Option<Waker>>,
}

impl Client {
    pub(super) fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            0 => Phase::Idle,
            1 => Phase::Head,
            _ => Phase::Request,
        }
    }

    pub(super) fn set_phase(&self, phase: Phase) {
        self.since.store(millis(self.epoch), Ordering::Release);
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

    /// When the current phase began.
    pub(super) fn phase_started(&self) -> Instant {
        self.epoch + std::time::Duration::from_millis(self.since.load(Ordering::Acquire))
    }
}

/// A request being served: its turn in the pool, given back (and its connection idle
/// again, its metrics recorded) once its response is written or dropped.
#[derive(Debug)]
pub(super) struct Served {
    client: Arc<Client>,
    _permit: Option<OwnedSemaphorePermit>,
    measured: Option<crate::metrics::HttpRequest>,
}

impl Served {
    pub(super) fn new(
        client: Arc<Client>,
        permit: Option<OwnedSemaphorePermit>,
        measured: Option<crate::metrics::HttpRequest>,
    ) -> Self {
        Served {
            client,
            _permit: permit,
            measured,
        }
    }

    /// The status the request is answered with, for its metrics.
    pub(super) fn answered(&mut self, status: u16) {
        if let Some(measured) = &mut self.measured {
            measured.answered(status);
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.client.set_phase(Phase::Idle);
    }
}

fn millis(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
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

    /// Waits until a new connection may be accepted: below the limit, or at it with an
    /// idle connection to close for the newcomer (the one idle the longest goes).
    pub(super) async fn make_room(&self) {
        loop {
            let ended = self.ended.notified();
            if self.count() < self.limit || self.evict_longest_idle() {
                return;
            }
            // Requests finish and clients go; a phase change wakes nobody, so look again
            // now and then too.
            let _ = tokio::time::timeout(std::time::Duration::from_millis(100), ended).await;
        }
    }

    /// Closes the connection idle the longest, if one is idle.
    fn evict_longest_idle(&self) -> bool {
        let open = self.lock();
        let longest = open
            .values()
            .filter(|client| client.phase() == Phase::Idle && !client.close.is_cancelled())
            .min_by_key(|client| client.since.load(Ordering::Acquire));
        match longest {
            Some(client) => {
                client.close.cancel();
                true
            }
            None => false,
        }
    }

    /// A new connection, idle.
    pub(super) fn register(self: &Arc<Self>) -> Registered {
        let client = Arc::new(Client {
            phase: AtomicU8::new(Phase::Idle as u8),
            since: AtomicU64::new(millis(self.epoch)),
            epoch: self.epoch,
            close: CancellationToken::new(),
            reader: Mutex::new(None),
        });
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(id, Arc::clone(&client));
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

    #[tokio::test(start_paused = true)]
    async fn at_the_limit_the_longest_idle_goes_and_busy_ones_stay() {
        let clients = Clients::new(3);
        let oldest = clients.register();
        tokio::time::advance(std::time::Duration::from_secs(1)).await;
        let busy = clients.register();
        busy.client.set_phase(Phase::Request);
        tokio::time::advance(std::time::Duration::from_secs(1)).await;
        let newer = clients.register();
        assert_eq!(clients.count(), 3);
        clients.make_room().await;
        assert!(oldest.client.close.is_cancelled());
        assert!(!busy.client.close.is_cancelled());
        assert!(!newer.client.close.is_cancelled());
        drop(oldest);
        // All busy or already told: the next one waits for a connection to end.
        newer.client.set_phase(Phase::Head);
        let fourth = clients.register();
        fourth.client.set_phase(Phase::Head);
        let waiting = tokio::spawn({
            let clients = Arc::clone(&clients);
            async move { clients.make_room().await }
        });
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        assert!(!waiting.is_finished());
        drop(busy);
        waiting.await.unwrap();
        clients.cut(Cut::SlowHead, "127.0.0.1");
        assert_eq!(clients.cut_count(Cut::SlowHead), 1);
    }
}
