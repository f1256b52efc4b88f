//! An HTTP/2 connection's inbound frames, watched for the two floods and stalls h2
//! does not bound by itself:
//! - a header block (HEADERS, then CONTINUATIONs until END_HEADERS) has
//!   `client_header_timeout` from its first frame to its end, as an HTTP/1.1 request
//!   head has, however slowly its bytes keep coming;
//! - SETTINGS and PINGs each make the server answer: past
//!   [`CONTROL_FRAMES_PER_SECOND`] in a second, the connection is cut. One whose
//!   answers are not read is cut sooner, as a slow reader, by the write deadline.
//!
//! Only frame headers are read here (9 bytes each); payloads are skipped, and h2 parses
//! and judges everything else.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, ReadBuf};
use tokio::time::Instant;

use super::clients::{Clients, Cut};
use super::io::Timer;
use super::preface::PREFACE;

/// SETTINGS and PINGs (not their acknowledgements) a client may send in one second.
/// A client sends a SETTINGS or two per connection and a PING every few seconds
/// (gRPC's bandwidth probes a few per round trip at most); a flood sends thousands.
pub(super) const CONTROL_FRAMES_PER_SECOND: u32 = 1000;

/// RFC 9113, 4.1: every frame starts with a 9-byte header.
const FRAME_HEADER: usize = 9;

const HEADERS: u8 = 0x1;
const SETTINGS: u8 = 0x4;
const PUSH_PROMISE: u8 = 0x5;
const PING: u8 = 0x6;
const CONTINUATION: u8 = 0x9;
/// SETTINGS's and PING's flag for an acknowledgement.
const ACK: u8 = 0x1;
/// HEADERS's, PUSH_PROMISE's and CONTINUATION's flag for a header block's last frame.
const END_HEADERS: u8 = 0x4;

/// Where the inbound byte stream is, frame by frame.
#[derive(Debug)]
struct Framing {
    /// The connection preface's bytes still to come.
    preface_left: usize,
    header: [u8; FRAME_HEADER],
    header_len: usize,
    /// The current frame's payload bytes still to come.
    payload_left: usize,
    /// The current frame is a header block's last.
    ends_block: bool,
    /// When the header block now open started.
    block_since: Option<Instant>,
    /// The current second of control frames: its start and its count.
    window_start: Instant,
    control_frames: u32,
}

/// What a client sent that ends its connection.
#[derive(Debug, PartialEq, Eq)]
enum Flood {
    ControlFrames,
}

impl Framing {
    fn new(now: Instant) -> Self {
        Framing {
            preface_left: PREFACE.len(),
            header: [0; FRAME_HEADER],
            header_len: 0,
            payload_left: 0,
            ends_block: false,
            block_since: None,
            window_start: now,
            control_frames: 0,
        }
    }

    /// Follows the frames through `bytes`, read at `now`.
    fn read(&mut self, mut bytes: &[u8], now: Instant) -> Result<(), Flood> {
        let preface = self.preface_left.min(bytes.len());
        self.preface_left -= preface;
        bytes = &bytes[preface..];
        while !bytes.is_empty() {
            if self.payload_left > 0 {
                let skipped = self.payload_left.min(bytes.len());
                self.payload_left -= skipped;
                bytes = &bytes[skipped..];
                self.frame_read_so_far();
                continue;
            }
            if self.header_len == 0 && self.ends_block {
                self.ends_block = false;
            }
            let take = (FRAME_HEADER - self.header_len).min(bytes.len());
            self.header[self.header_len..self.header_len + take].copy_from_slice(&bytes[..take]);
            self.header_len += take;
            bytes = &bytes[take..];
            if self.header_len == FRAME_HEADER {
                self.header_len = 0;
                self.frame_started(now)?;
            }
        }
        Ok(())
    }

    /// A frame's header is whole: what it opens, closes or counts.
    fn frame_started(&mut self, now: Instant) -> Result<(), Flood> {
        let [a, b, c, kind, flags, ..] = self.header;
        self.payload_left = usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c);
        match kind {
            HEADERS | PUSH_PROMISE | CONTINUATION => {
                self.block_since.get_or_insert(now);
                self.ends_block = flags & END_HEADERS != 0;
            }
            SETTINGS | PING if flags & ACK == 0 => self.count_control_frame(now)?,
            _ => {}
        }
        self.frame_read_so_far();
        Ok(())
    }

    /// The current frame's payload has come as far as it has: a header block's last
    /// frame, once whole, closes the block.
    fn frame_read_so_far(&mut self) {
        if self.payload_left == 0 && self.ends_block {
            self.ends_block = false;
            self.block_since = None;
        }
    }

    fn count_control_frame(&mut self, now: Instant) -> Result<(), Flood> {
        if now.duration_since(self.window_start) >= Duration::from_secs(1) {
            self.window_start = now;
            self.control_frames = 0;
        }
        self.control_frames = self.control_frames.saturating_add(1);
        if self.control_frames > CONTROL_FRAMES_PER_SECOND {
            return Err(Flood::ControlFrames);
        }
        Ok(())
    }
}

/// An HTTP/2 connection's plaintext socket, from its preface on: reads fail with
/// `TimedOut` once a header block has been open for `client_header_timeout`, and with
/// `InvalidData` at a flood of control frames; each cut is counted.
#[derive(Debug)]
pub(super) struct FrameWatch<IO> {
    inner: IO,
    framing: Framing,
    header_timeout: Duration,
    clients: Arc<Clients>,
    client_ip: Arc<str>,
    timer: Timer,
}

impl<IO> FrameWatch<IO> {
    pub(super) fn new(
        inner: IO,
        header_timeout: Duration,
        clients: Arc<Clients>,
        client_ip: Arc<str>,
    ) -> Self {
        FrameWatch {
            inner,
            framing: Framing::new(Instant::now()),
            header_timeout,
            clients,
            client_ip,
            timer: Timer::default(),
        }
    }

    fn slow_head(&self) -> io::Error {
        self.clients.cut(Cut::SlowHead, &self.client_ip);
        io::Error::new(
            io::ErrorKind::TimedOut,
            "the client did not send its header block within client_header_timeout",
        )
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for FrameWatch<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let read = &buf.filled()[before..];
                if this.framing.read(read, Instant::now()).is_err() {
                    // A read that fails gives nothing: these bytes go with the
                    // connection.
                    buf.set_filled(before);
                    this.clients.cut(Cut::ControlFlood, &this.client_ip);
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "the client sent more SETTINGS and PING frames than a second allows",
                    )));
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                let Some(since) = this.framing.block_since else {
                    return Poll::Pending;
                };
                ready!(this.timer.poll_until(since + this.header_timeout, cx));
                Poll::Ready(Err(this.slow_head()))
            }
            failed => failed,
        }
    }
}

super::io::writes_through!(FrameWatch);

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn frame(kind: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
        let len = payload.len();
        let mut frame = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
        frame.extend_from_slice(&1u32.to_be_bytes());
        frame.extend_from_slice(payload);
        frame
    }

    fn framing_after(chunks: &[&[u8]], now: Instant) -> (Framing, Result<(), Flood>) {
        let mut framing = Framing::new(now);
        let mut result = framing.read(PREFACE, now);
        for chunk in chunks {
            result = result.and(framing.read(chunk, now));
        }
        (framing, result)
    }

    #[test]
    fn a_header_block_is_open_from_its_first_frame_to_its_last_whole() {
        let now = Instant::now();
        let settings = frame(SETTINGS, 0, &[0; 6]);
        let opening = frame(HEADERS, 0, b"abc");
        let more = frame(CONTINUATION, 0, b"def");
        let last = frame(CONTINUATION, END_HEADERS, b"ghi");
        let (framing, _) = framing_after(&[&settings], now);
        assert_eq!(framing.block_since, None);
        let (framing, _) = framing_after(&[&settings, &opening, &more], now);
        assert_eq!(framing.block_since, Some(now));
        // The last frame's header alone, then all but its last byte: still open.
        let (framing, _) = framing_after(&[&opening, &last[..9], &last[9..11]], now);
        assert_eq!(framing.block_since, Some(now));
        // A byte at a time, to the end.
        let mut framing = Framing::new(now);
        for byte in PREFACE.iter().chain(&opening).chain(&more).chain(&last) {
            framing.read(std::slice::from_ref(byte), now).unwrap();
        }
        assert_eq!(framing.block_since, None);
        // A HEADERS frame with END_HEADERS is a block of its own, and DATA after it
        // opens nothing.
        let whole = frame(HEADERS, END_HEADERS | 0x1, b"abc");
        let data = frame(0x0, 0, &[HEADERS; 20]);
        let (framing, _) = framing_after(&[&whole, &data], now);
        assert_eq!(framing.block_since, None);
        let empty = frame(HEADERS, END_HEADERS, b"");
        let (framing, _) = framing_after(&[&empty], now);
        assert_eq!(framing.block_since, None);
    }

    #[test]
    fn control_frames_past_the_budget_of_a_second_are_a_flood_and_acks_are_not_counted() {
        let now = Instant::now();
        let ping = frame(PING, 0, &[0; 8]);
        let ack = frame(PING, ACK, &[0; 8]);
        let budget = usize::try_from(CONTROL_FRAMES_PER_SECOND).unwrap();
        let within: Vec<u8> = ping.repeat(budget);
        let (mut framing, result) = framing_after(&[&within, &ack.repeat(5000)], now);
        assert_eq!(result, Ok(()));
        // The next second has its own budget; one more in this one is a flood.
        let next_second = now + Duration::from_secs(1);
        assert_eq!(framing.read(&ping, next_second), Ok(()));
        let (mut framing, _) = framing_after(&[&within], now);
        let settings = frame(SETTINGS, 0, &[]);
        assert_eq!(framing.read(&settings, now), Err(Flood::ControlFrames));
    }

    fn watched(
        header_timeout: Duration,
    ) -> (FrameWatch<tokio::io::DuplexStream>, tokio::io::DuplexStream) {
        let (ours, theirs) = tokio::io::duplex(1 << 16);
        let watch = FrameWatch::new(
            ours,
            header_timeout,
            Clients::new(8),
            Arc::from("127.0.0.1"),
        );
        (watch, theirs)
    }

    #[tokio::test(start_paused = true)]
    async fn a_header_block_that_keeps_trickling_is_cut_at_the_header_timeout() {
        let (mut watch, mut client) = watched(Duration::from_secs(10));
        let started = Instant::now();
        let trickle = async move {
            client.write_all(PREFACE).await.unwrap();
            client.write_all(&frame(HEADERS, 0, b"a")).await.unwrap();
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if client
                    .write_all(&frame(CONTINUATION, 0, b"b"))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        };
        let read = async {
            let mut all = Vec::new();
            watch.read_to_end(&mut all).await
        };
        let error = tokio::select! {
            read = read => read.unwrap_err(),
            () = trickle => unreachable!("the client writes until it is cut"),
        };
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn a_whole_header_block_has_no_deadline_here() {
        let (mut watch, mut client) = watched(Duration::from_secs(10));
        client.write_all(PREFACE).await.unwrap();
        client
            .write_all(&frame(HEADERS, END_HEADERS, b"a"))
            .await
            .unwrap();
        let mut buf = [0; 64];
        let mut read = 0;
        while read < PREFACE.len() + 10 {
            read += watch.read(&mut buf).await.unwrap();
        }
        let waited = tokio::time::timeout(Duration::from_secs(3600), watch.read(&mut buf)).await;
        assert!(waited.is_err(), "{waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_settings_flood_fails_the_read() {
        let (mut watch, mut client) = watched(Duration::from_secs(10));
        let flood = frame(SETTINGS, 0, &[]).repeat(2000);
        tokio::spawn(async move {
            client.write_all(PREFACE).await.unwrap();
            let _ = client.write_all(&flood).await;
            std::future::pending::<()>().await;
        });
        let mut all = Vec::new();
        let error = watch.read_to_end(&mut all).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    }
}
