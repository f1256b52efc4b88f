//! A client connection's socket with `client_socket_timeout` on writes: a client that
//! stops reading its response is cut once a write has waited that long, as eventlet's
//! socket timeout cuts it. (Reads are bounded elsewhere: hyper's header read timeout
//! covers an idle or slow request head, [`super::Body`] a slow request body. A read
//! timeout here would also cut a client waiting for a slow answer, since hyper keeps a
//! read pending to notice a client that hangs up.)

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// A timer for one kind of operation: armed when it first waits, disarmed by progress.
#[derive(Debug, Default)]
pub(super) struct Stall {
    waiting_since: Option<Instant>,
    /// Created on the first wait and moved afterwards, never re-allocated.
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Stall {
    /// The operation made progress.
    pub(super) fn progressed(&mut self) {
        self.waiting_since = None;
    }

    /// The operation is waiting: `Ready` once it has waited `timeout` (the caller then
    /// fails it), else `Pending` with a wake-up at the deadline.
    pub(super) fn poll_expired(&mut self, timeout: Duration, cx: &mut Context<'_>) -> Poll<()> {
        let now = Instant::now();
        let deadline = *self.waiting_since.get_or_insert(now) + timeout;
        if now >= deadline {
            return Poll::Ready(());
        }
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.deadline() != deadline {
            sleep.as_mut().reset(deadline);
        }
        sleep.as_mut().poll(cx)
    }
}

/// A stream whose writes fail with `TimedOut` after waiting `timeout`.
#[derive(Debug)]
pub(super) struct WriteTimeout<S> {
    inner: S,
    timeout: Option<Duration>,
    stall: Stall,
}

impl<S> WriteTimeout<S> {
    pub(super) fn new(inner: S, timeout: Option<Duration>) -> Self {
        WriteTimeout {
            inner,
            timeout,
            stall: Stall::default(),
        }
    }

    fn after<T>(&mut self, poll: Poll<io::Result<T>>, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        match (poll, self.timeout) {
            (Poll::Pending, Some(timeout)) => {
                ready!(self.stall.poll_expired(timeout, cx));
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client did not read its response within client_socket_timeout",
                )))
            }
            (Poll::Pending, None) => Poll::Pending,
            (ready, _) => {
                self.stall.progressed();
                ready
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteTimeout<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteTimeout<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.after(poll, cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.after(poll, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_flush(cx);
        self.after(poll, cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.after(poll, cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_does_not_read_fails_the_write_after_the_timeout() {
        let (ours, _theirs) = tokio::io::duplex(64);
        let mut stream = WriteTimeout::new(ours, Some(Duration::from_secs(5)));
        let started = Instant::now();
        let error = stream.write_all(&[0; 1024]).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_reads_keeps_the_stream_alive() {
        let (ours, mut theirs) = tokio::io::duplex(64);
        let mut stream = WriteTimeout::new(ours, Some(Duration::from_secs(5)));
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
