//! One console client: lines in (bounded in length, text only), answers out (a write
//! that waits too long ends the session), an idle limit. Nothing a client sends can
//! grow the process's memory beyond one line.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

use super::Views;
use super::commands;

/// The longest command line read; longer ones are refused (and skipped).
pub(super) const MAX_LINE: usize = 4096;

/// A client that sends nothing for this long is disconnected.
const IDLE: Duration = Duration::from_secs(300);

/// A client that does not read an answer within this is disconnected.
const WRITE: Duration = Duration::from_secs(10);

/// Serves one client until it quits, goes away, idles or stops reading.
pub(super) async fn serve<S: AsyncRead + AsyncWrite + Unpin>(stream: S, views: &Views, peer: &str) {
    let (reader, mut writer) = tokio::io::split(stream);
    let mut reader = BufReader::with_capacity(MAX_LINE, reader);
    if write(&mut writer, b"oslo-service debug console; type help\n\n")
        .await
        .is_err()
    {
        return;
    }
    loop {
        let line = match tokio::time::timeout(IDLE, read_line(&mut reader)).await {
            Err(_idle) => {
                let _ = write(&mut writer, b"error: idle for too long, bye\n\n").await;
                return;
            }
            Ok(Ok(Some(line))) => line,
            Ok(Ok(None)) | Ok(Err(_)) => return,
        };
        let reply = match line {
            Line::Text(text) => commands::answer(&text, views, peer).await,
            Line::TooLong => commands::Reply {
                text: format!("error: line too long (at most {MAX_LINE} bytes)\n"),
                quit: false,
            },
            Line::NotText => commands::Reply {
                text: "error: not a line of text\n".to_owned(),
                quit: false,
            },
        };
        let mut answer = reply.text.into_bytes();
        answer.push(b'\n');
        if write(&mut writer, &answer).await.is_err() || reply.quit {
            return;
        }
    }
}

async fn write<W: AsyncWrite + Unpin>(writer: &mut W, bytes: &[u8]) -> std::io::Result<()> {
    match tokio::time::timeout(WRITE, async {
        writer.write_all(bytes).await?;
        writer.flush().await
    })
    .await
    {
        Ok(written) => written,
        Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
    }
}

enum Line {
    Text(String),
    TooLong,
    NotText,
}

/// The next line, without its end; `None` at end of input. A line over [`MAX_LINE`]
/// is read through to its end and dropped, never held whole.
async fn read_line<R: AsyncBufReadExt + Unpin>(reader: &mut R) -> std::io::Result<Option<Line>> {
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let buffered = reader.fill_buf().await?;
        if buffered.is_empty() {
            // End of input: a last line without its newline still counts.
            return Ok((!line.is_empty() || too_long).then(|| finish(line, too_long)));
        }
        let (taken, ended) = match buffered.iter().position(|&b| b == b'\n') {
            Some(end) => (end + 1, true),
            None => (buffered.len(), false),
        };
        if !too_long {
            line.extend_from_slice(&buffered[..taken]);
            if line.len() > MAX_LINE + 1 {
                too_long = true;
                line = Vec::new();
            }
        }
        reader.consume(taken);
        if ended {
            return Ok(Some(finish(line, too_long)));
        }
    }
}

fn finish(mut line: Vec<u8>, too_long: bool) -> Line {
    if too_long {
        return Line::TooLong;
    }
    while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        line.pop();
    }
    match String::from_utf8(line) {
        Ok(text) if !text.chars().any(|c| c.is_control() && c != '\t') => Line::Text(text),
        _ => Line::NotText,
    }
}
