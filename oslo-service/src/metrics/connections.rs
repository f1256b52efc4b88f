//! The endpoint's connections, and which one goes when a new one comes and every slot
//! is taken: as the HTTP server does, a client that has sent nothing yet goes first,
//! then one still sending its request's head, the oldest first; only when each is being
//! answered is the newcomer refused. So clients that connect and say nothing (or say it
//! slowly) cannot keep a scraper out.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::sync::CancellationToken;

/// How far a connection got; the lower, the sooner it goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub(super) enum Progress {
    /// Not a byte received.
    Silent = 0,
    /// Some of a request's head received.
    Head = 1,
    /// A whole head received: the request is being answered.
    Answering = 2,
}

/// One connection, shared by the table and the connection's task.
#[derive(Debug)]
pub(super) struct Connection {
    progress: AtomicU8,
    /// Its place in the order of arrival.
    arrival: u64,
    /// Cancelled to close it at once, for a newcomer.
    pub(super) evicted: CancellationToken,
}

impl Connection {
    fn progress(&self) -> Progress {
        match self.progress.load(Ordering::Acquire) {
            0 => Progress::Silent,
            1 => Progress::Head,
            _ => Progress::Answering,
        }
    }

    /// It got as far as `progress` (it never goes back).
    pub(super) fn reached(&self, progress: Progress) {
        self.progress.fetch_max(progress as u8, Ordering::AcqRel);
    }
}

/// The connections of the endpoint, at most `limit`.
#[derive(Debug)]
pub(super) struct Connections {
    limit: usize,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    connections: Vec<Arc<Connection>>,
    arrivals: u64,
}

/// A connection's slot; dropping it frees the slot.
#[derive(Debug)]
pub(super) struct Admitted {
    connections: Arc<Connections>,
    pub(super) connection: Arc<Connection>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.connections
            .lock()
            .connections
            .retain(|c| !Arc::ptr_eq(c, &self.connection));
    }
}

impl Connections {
    /// At most `limit` connections (at least 1).
    pub(super) fn new(limit: usize) -> Arc<Self> {
        Arc::new(Connections {
            limit: limit.max(1),
            open: Mutex::default(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A slot for a new connection, made by evicting the connection that got the least
    /// far (the oldest of those) when all are taken; `None` when every connection is
    /// being answered.
    pub(super) fn admit(self: &Arc<Self>) -> Option<Admitted> {
        let mut open = self.lock();
        if open.connections.len() >= self.limit {
            let victim = open
                .connections
                .iter()
                .enumerate()
                .filter(|(_, c)| c.progress() < Progress::Answering)
                .min_by_key(|(_, c)| (c.progress(), c.arrival))
                .map(|(at, _)| at)?;
            // Out of the table at once: its task ends as soon as it sees the token.
            open.connections.swap_remove(victim).evicted.cancel();
        }
        open.arrivals += 1;
        let connection = Arc::new(Connection {
            progress: AtomicU8::new(Progress::Silent as u8),
            arrival: open.arrivals,
            evicted: CancellationToken::new(),
        });
        open.connections.push(Arc::clone(&connection));
        Some(Admitted {
            connections: Arc::clone(self),
            connection,
        })
    }
}

/// A connection's socket, marking the connection as past silent at its first byte.
#[derive(Debug)]
pub(super) struct Watched<S> {
    stream: S,
    connection: Arc<Connection>,
}

impl<S> Watched<S> {
    pub(super) fn new(stream: S, connection: Arc<Connection>) -> Self {
        Watched { stream, connection }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.connection.reached(Progress::Head);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    fn progress(admitted: &Admitted) -> Progress {
        admitted.connection.progress()
    }

    #[test]
    fn the_silent_go_first_then_the_slow_the_oldest_first_and_the_answered_never() {
        let connections = Connections::new(3);
        let silent_old = connections.admit().unwrap();
        let head = connections.admit().unwrap();
        head.connection.reached(Progress::Head);
        let silent_new = connections.admit().unwrap();
        assert_eq!(progress(&silent_new), Progress::Silent);

        // Full: the oldest silent one goes, then the other silent one.
        let a = connections.admit().unwrap();
        assert!(silent_old.connection.evicted.is_cancelled());
        assert!(!silent_new.connection.evicted.is_cancelled());
        a.connection.reached(Progress::Answering);
        let b = connections.admit().unwrap();
        assert!(silent_new.connection.evicted.is_cancelled());
        b.connection.reached(Progress::Answering);
        // Then the one still sending its head.
        let c = connections.admit().unwrap();
        assert!(head.connection.evicted.is_cancelled());
        c.connection.reached(Progress::Answering);

        // All three answered: the newcomer is refused, and none is evicted.
        assert!(connections.admit().is_none());
        for answered in [&a, &b, &c] {
            assert!(!answered.connection.evicted.is_cancelled());
        }
        // One done: its slot is free without evicting anyone.
        drop(b);
        assert!(connections.admit().is_some());
        assert!(!a.connection.evicted.is_cancelled());
        assert!(!c.connection.evicted.is_cancelled());
    }

    #[test]
    fn an_evicted_connection_dropped_late_frees_no_one_elses_slot() {
        let connections = Connections::new(1);
        let old = connections.admit().unwrap();
        let new = connections.admit().unwrap();
        new.connection.reached(Progress::Answering);
        // The evicted task ends after the newcomer took its place.
        drop(old);
        assert!(connections.admit().is_none());
    }

    #[tokio::test]
    async fn the_first_byte_read_ends_the_silence() {
        let connections = Connections::new(1);
        let admitted = connections.admit().unwrap();
        let (client, server) = tokio::io::duplex(64);
        let mut server = Watched::new(server, Arc::clone(&admitted.connection));
        let mut client = client;
        assert_eq!(progress(&admitted), Progress::Silent);
        client.write_all(b"G").await.unwrap();
        let mut byte = [0; 1];
        server.read_exact(&mut byte).await.unwrap();
        assert_eq!(progress(&admitted), Progress::Head);
        // A progress already reached is kept.
        admitted.connection.reached(Progress::Answering);
        admitted.connection.reached(Progress::Head);
        assert_eq!(progress(&admitted), Progress::Answering);
    }
}
