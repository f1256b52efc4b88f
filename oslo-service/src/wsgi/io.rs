//! A client connection's socket with its deadlines: `client_socket_timeout` on writes
//! (a client that stops reading its response is cut once a write has waited that long,
//! as eventlet's socket timeout cuts it) and on an idle connection, and
//! `client_header_timeout` from a request head's first byte to its end. Once upgraded
//! (a WebSocket), reads have no deadline: the application's protocol decides how long
//! its client may be silent; writes keep theirs. An HTTP/2 connection is idle while it
//! has no stream in flight, whatever frames its client sends meanwhile, and is cut by
//! the same idle deadline.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::DropGuard;

use super::clients::{Client, Clients, Cut, Phase};

/// `AsyncWrite` for a socket wrapper (a struct with the socket in `inner`) whose writes
/// go to the socket as they are: only its reads are watched or rewound.
macro_rules! writes_through {
    ($wrapper:ident) => {
        impl<IO: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for $wrapper<IO> {
            fn poll_write(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
            }

            fn poll_write_vectored(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                self.inner.is_write_vectored()
            }

            fn poll_flush(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.inner).poll_flush(cx)
            }

            fn poll_shutdown(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
            }
        }
    };
}
pub(super) use writes_through;

/// A wake-up at a deadline that may move: created at its first wait and moved
/// afterwards, never re-allocated.
#[derive(Debug, Default)]
pub(super) struct Timer(Option<Pin<Box<Sleep>>>);

impl Timer {
    /// `Ready` once `deadline` has passed, else `Pending` with a wake-up at it.
    pub(super) fn poll_until(&mut self, deadline: Instant, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= deadline {
            return Poll::Ready(());
        }
        let sleep = self
            .0
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.deadline() != deadline {
            sleep.as_mut().reset(deadline);
        }
        sleep.as_mut().poll(cx)
    }
}

/// A timer for one kind of operation: armed when it first waits, disarmed by progress.
#[derive(Debug, Default)]
pub(super) struct Stall {
    waiting_since: Option<Instant>,
    timer: Timer,
}

impl Stall {
    /// The operation made progress.
    pub(super) fn progressed(&mut self) {
        self.waiting_since = None;
    }

    /// Whether the operation is waiting now.
    pub(super) fn is_waiting(&self) -> bool {
        self.waiting_since.is_some()
    }

    /// The operation is waiting: `Ready` once it has waited `timeout` (the caller then
    /// fails it), else `Pending` with a wake-up at the deadline.
    pub(super) fn poll_expired(&mut self, timeout: Duration, cx: &mut Context<'_>) -> Poll<()> {
        let deadline = *self.waiting_since.get_or_insert_with(Instant::now) + timeout;
        self.timer.poll_until(deadline, cx)
    }
}

/// The deadlines of a client connection's socket.
#[derive(Clone, Copy, Debug)]
pub(super) struct Deadlines {
    /// Idle between requests (`client_socket_timeout`); `None`: no limit.
    pub(super) idle: Option<Duration>,
    /// From a request head's first byte to its end (`client_header_timeout`).
    pub(super) head: Duration,
    /// A write waiting for the client to read (`client_socket_timeout`).
    pub(super) write: Option<Duration>,
}

/// A client connection's socket: reads fail with `TimedOut` when the client has been
/// idle too long or takes too long over a request head (by the connection's
/// [`Phase`]); writes when the client has not read for too long. Each cut is counted.
/// Once a request head is whole, reads have no deadline here: hyper keeps one pending to
/// notice a client that hangs up, and the request body has its own ([`super::Body`]).
/// Every byte read counts towards the connection's progress, which decides who makes
/// room at the connection limit.
#[derive(Debug)]
pub(super) struct ClientIo<S> {
    inner: S,
    deadlines: Deadlines,
    client: Arc<Client>,
    clients: Arc<Clients>,
    client_ip: Arc<str>,
    read_timer: Timer,
    write_stall: Stall,
    /// Tells the connection's task that the socket is gone: after an upgrade the
    /// application holds it, and the task waits for it (a stop waits for the task).
    _released: DropGuard,
}

impl<S> ClientIo<S> {
    pub(super) fn new(
        inner: S,
        deadlines: Deadlines,
        client: Arc<Client>,
        clients: Arc<Clients>,
        client_ip: Arc<str>,
        released: DropGuard,
    ) -> Self {
        ClientIo {
            inner,
            deadlines,
            client,
            clients,
            client_ip,
            read_timer: Timer::default(),
            write_stall: Stall::default(),
            _released: released,
        }
    }

    fn after_write<T>(
        &mut self,
        poll: Poll<io::Result<T>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<T>> {
        match (poll, self.deadlines.write) {
            (Poll::Pending, Some(timeout)) => {
                ready!(self.write_stall.poll_expired(timeout, cx));
                self.clients.cut(Cut::SlowReader, &self.client_ip);
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client did not read its response within client_socket_timeout",
                )))
            }
            (Poll::Pending, None) => Poll::Pending,
            (ready, _) => {
                self.write_stall.progressed();
                ready
            }
        }
    }

    /// The read deadline of the connection's phase, and what passing it means.
    fn read_deadline(&self) -> Option<(Instant, Cut, &'static str)> {
        // A response still being written (hyper took its last frame, the socket has not
        // taken it all) is the write deadline's to judge.
        if self.write_stall.is_waiting() {
            return None;
        }
        let since = self.client.phase_started();
        match self.client.phase() {
            Phase::Idle => self.deadlines.idle.map(|idle| {
                (
                    since + idle,
                    Cut::Idle,
                    "the client sent nothing within client_socket_timeout",
                )
            }),
            Phase::Head => Some((
                since + self.deadlines.head,
                Cut::SlowHead,
                "the client did not send its request head within client_header_timeout",
            )),
            // A body has its own deadlines ([`super::Body`]), gathered or served; an
            // upgraded connection's silence is its protocol's to judge.
            Phase::Body | Phase::Request | Phase::Upgraded => None,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ClientIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let read = buf.filled().len().saturating_sub(before);
                if read > 0 {
                    // On HTTP/2, bytes while idle are frames (a PING, SETTINGS), not a
                    // request head: the connection stays idle until a stream opens.
                    if this.client.phase() == Phase::Idle && !this.client.is_http2() {
                        this.client.set_phase(Phase::Head);
                    }
                    this.client.received(read);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
            Poll::Pending => {
                this.client.waiting_reader(cx.waker());
                let Some((deadline, cut, message)) = this.read_deadline() else {
                    return Poll::Pending;
                };
                ready!(this.read_timer.poll_until(deadline, cx));
                this.clients.cut(cut, &this.client_ip);
                Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, message)))
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ClientIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.after_write(poll, cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.after_write(poll, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_flush(cx);
        self.after_write(poll, cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.after_write(poll, cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    const DEADLINES: Deadlines = Deadlines {
        idle: Some(Duration::from_secs(900)),
        head: Duration::from_secs(3),
        write: Some(Duration::from_secs(5)),
    };

    fn client_io(
        stream: tokio::io::DuplexStream,
    ) -> (
        ClientIo<tokio::io::DuplexStream>,
        Arc<Clients>,
        super::super::clients::Registered,
    ) {
        let clients = Clients::new(10);
        let registered = clients.register();
        let io = ClientIo::new(
            stream,
            DEADLINES,
            Arc::clone(&registered.client),
            Arc::clone(&clients),
            Arc::from("127.0.0.1"),
            tokio_util::sync::CancellationToken::new().drop_guard(),
        );
        (io, clients, registered)
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_does_not_read_fails_the_write_after_the_timeout() {
        let (ours, _theirs) = tokio::io::duplex(64);
        let (mut stream, clients, _registered) = client_io(ours);
        let started = Instant::now();
        let error = stream.write_all(&[0; 1024]).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        assert_eq!(clients.cut_count(Cut::SlowReader), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_that_comes_a_byte_at_a_time_is_cut_at_the_header_timeout() {
        use tokio::io::AsyncReadExt;
        let (ours, mut theirs) = tokio::io::duplex(64);
        let (mut stream, clients, registered) = client_io(ours);
        let sender = tokio::spawn(async move {
            for byte in b"GET / HTTP/1.1\r\n" {
                if theirs.write_all(&[*byte]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            theirs
        });
        let started = Instant::now();
        let mut buf = [0; 64];
        let error = loop {
            match stream.read(&mut buf).await {
                Ok(_) => continue,
                Err(err) => break err,
            }
        };
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(3));
        assert_eq!(registered.client.phase(), Phase::Head);
        assert_eq!(clients.cut_count(Cut::SlowHead), 1);
        drop(sender);
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_has_the_idle_timeout_and_a_served_one_none() {
        use tokio::io::AsyncReadExt;
        let (ours, _theirs) = tokio::io::duplex(64);
        let (mut stream, clients, registered) = client_io(ours);
        registered.client.set_phase(Phase::Request);
        let mut buf = [0; 8];
        assert!(
            tokio::time::timeout(Duration::from_secs(3600), stream.read(&mut buf))
                .await
                .is_err()
        );
        registered.client.set_phase(Phase::Idle);
        let started = Instant::now();
        let error = stream.read(&mut buf).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(900));
        assert_eq!(clients.cut_count(Cut::Idle), 1);
    }

    /// A WebSocket may be silent for longer than any idle limit; the socket going away
    /// with the application tells the connection's task.
    #[tokio::test(start_paused = true)]
    async fn an_upgraded_connection_has_no_read_deadline_and_tells_when_dropped() {
        use tokio::io::AsyncReadExt;
        let (ours, _theirs) = tokio::io::duplex(64);
        let clients = Clients::new(10);
        let registered = clients.register();
        registered.client.set_phase(Phase::Upgraded);
        let released = tokio_util::sync::CancellationToken::new();
        let mut stream = ClientIo::new(
            ours,
            DEADLINES,
            Arc::clone(&registered.client),
            Arc::clone(&clients),
            Arc::from("127.0.0.1"),
            released.clone().drop_guard(),
        );
        let mut buf = [0; 8];
        assert!(
            tokio::time::timeout(Duration::from_secs(10 * 3600), stream.read(&mut buf))
                .await
                .is_err()
        );
        assert_eq!(clients.cut_count(Cut::Idle), 0);
        assert!(!released.is_cancelled());
        drop(stream);
        assert!(released.is_cancelled());
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_reads_keeps_the_stream_alive() {
        let (ours, mut theirs) = tokio::io::duplex(64);
        let (mut stream, _clients, _registered) = client_io(ours);
        let reader = tokio::spawn(async move {
            let mut sink = Vec::new();
            let mut chunk = [0; 16];
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                match tokio::io::AsyncReadExt::read(&mut theirs, &mut chunk).await {
                    Ok(0) | Err(_) => break sink.len(),
                    Ok(n) => sink.extend_from_slice(&chunk[..n]),
                }
            }
        });
        // 1024 bytes at 16 a second: a minute of writing, never 5 s without progress.
        stream.write_all(&[0; 1024]).await.unwrap();
        drop(stream);
        assert_eq!(reader.await.unwrap(), 1024);
    }
}
