//! Which HTTP a cleartext client speaks, told by its first bytes: HTTP/2 with prior
//! knowledge starts with the connection preface (RFC 9113, 3.4), which no HTTP/1
//! request starts with. The bytes read to tell are given back, first, to whichever
//! protocol then serves the connection.
//!
//! Told here rather than by hyper-util's `auto` builder, which tells the same way, so
//! that the connection's phase knows it is HTTP/2 before hyper reads a frame: its idle
//! deadline and its place at the connection limit follow its streams from the start.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

/// RFC 9113, 3.4: what an HTTP/2 client sends first.
pub(super) const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Reads the connection's first bytes until they differ from the preface or make it
/// whole (never more than its 24 bytes): `true` for HTTP/2. The socket's deadlines
/// bound the wait, as they bound a request head's.
pub(super) async fn sniff<IO>(mut io: IO) -> io::Result<(Rewind<IO>, bool)>
where
    IO: AsyncRead + Unpin,
{
    let mut first = [0; PREFACE.len()];
    let mut len = 0;
    while len < PREFACE.len() {
        let read = io.read(&mut first[len..]).await?;
        if read == 0 {
            break;
        }
        len += read;
        if first[..len] != PREFACE[..len] {
            break;
        }
    }
    let http2 = first[..len] == PREFACE[..];
    Ok((
        Rewind::new(io, Bytes::copy_from_slice(&first[..len])),
        http2,
    ))
}

/// A socket whose reads give back some bytes already read first.
#[derive(Debug)]
pub(super) struct Rewind<IO> {
    first: Bytes,
    inner: IO,
}

impl<IO> Rewind<IO> {
    /// `first`, then what `inner` reads.
    pub(super) fn new(inner: IO, first: Bytes) -> Self {
        Rewind { first, inner }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Rewind<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.first.has_remaining() {
            let len = self.first.len().min(buf.remaining());
            buf.put_slice(&self.first[..len]);
            self.first.advance(len);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

super::io::writes_through!(Rewind);

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    async fn told(sent: &[&[u8]]) -> (bool, Vec<u8>) {
        let (ours, mut theirs) = tokio::io::duplex(64);
        for chunk in sent {
            theirs.write_all(chunk).await.unwrap();
        }
        drop(theirs);
        let (mut rewind, http2) = sniff(ours).await.unwrap();
        let mut all = Vec::new();
        rewind.read_to_end(&mut all).await.unwrap();
        (http2, all)
    }

    #[tokio::test]
    async fn the_preface_is_http2_and_every_byte_is_given_back() {
        let (http2, all) = told(&[b"PRI * HTTP/2.0\r\n", b"\r\nSM\r\n\r\n\0\0\0\x04"]).await;
        assert!(http2);
        assert_eq!(&all[..24], PREFACE);
        assert_eq!(&all[24..], b"\0\0\0\x04");
    }

    #[tokio::test]
    async fn an_http1_request_is_not_and_is_given_back_whole() {
        for request in [
            &b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\n\r\n",
            b"PRI",
            b"",
        ] {
            let (http2, all) = told(&[request]).await;
            assert!(!http2, "{request:?}");
            assert_eq!(all, request);
        }
    }
}
