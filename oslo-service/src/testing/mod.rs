//! Helpers for testing services, timers, looping calls and task groups: [`Harness`]
//! runs a service in the test's process with the launcher's lifecycle.
//!
//! Run such tests on tokio's paused clock (`#[tokio::test(start_paused = true)]`, which
//! needs tokio's `test-util` feature in the test's crate): sleeps then complete
//! instantly and exactly, in order. [`SleepRecorder`] is oslo.service's sleep fixture:
//! handed to a looping call or a retry policy, it records every sleep they ask for.
//! [`LogCapture`] collects the log lines emitted meanwhile, and [`run_for`] lets the
//! paused clock move on while the timers due meanwhile fire.
//!
//! ```
//! use std::ops::ControlFlow;
//! use std::time::Duration;
//! use oslo::looping::{FixedInterval, LoopingCall};
//! use oslo::testing::{SleepRecorder, run_for};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> oslo::Result<()> {
//! let sleeps = SleepRecorder::new();
//! let call = LoopingCall::new(|| async { Ok::<_, oslo::Error>(ControlFlow::<(), ()>::Continue(())) })
//!     .with_sleeper(sleeps.clone());
//! let handle = call.start(FixedInterval::every(Duration::from_secs(30)))?;
//! run_for(Duration::from_secs(95)).await;
//! handle.stop();
//! handle.wait().await?;
//! assert_eq!(sleeps.sleeps(), vec![Duration::from_secs(30); 4]);
//! # Ok(())
//! # }
//! ```

mod harness;

pub use harness::Harness;

use std::cell::RefCell;
use std::io::{self, Write};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use tracing::subscriber::DefaultGuard;

use crate::future::BoxFuture;
use crate::looping::Sleeper;

/// A [`Sleeper`] that records every duration asked of it. Clones share the record.
///
/// [`SleepRecorder::new`] then sleeps on tokio's clock (instant when it is paused, and
/// the clock moves as the code under test expects); [`SleepRecorder::instant`] only
/// yields, for tests that must not move the clock at all.
#[derive(Clone, Debug, Default)]
pub struct SleepRecorder {
    sleeps: Arc<Mutex<Vec<Duration>>>,
    skip_sleeping: bool,
}

impl SleepRecorder {
    /// Records, then sleeps with `tokio::time::sleep`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records, then only yields to the scheduler, so loops still let other tasks run.
    pub fn instant() -> Self {
        SleepRecorder {
            skip_sleeping: true,
            ..Self::default()
        }
    }

    /// The durations asked for so far, oldest first.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.record().clone()
    }

    /// The durations asked for so far, forgetting them.
    pub fn take(&self) -> Vec<Duration> {
        std::mem::take(&mut *self.record())
    }

    fn record(&self) -> std::sync::MutexGuard<'_, Vec<Duration>> {
        self.sleeps.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Sleeper for SleepRecorder {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        self.record().push(duration);
        if self.skip_sleeping {
            Box::pin(tokio::task::yield_now())
        } else {
            Box::pin(tokio::time::sleep(duration))
        }
    }
}

/// Lets `duration` pass on tokio's clock (instantly when it is paused), then lets the
/// tasks woken at that instant run, so their effects are visible to the caller.
pub async fn run_for(duration: Duration) {
    tokio::time::sleep(duration).await;
    settle().await;
}

/// Yields to the scheduler a few times, so that tasks ready to run have run (on a
/// current-thread runtime, the one `#[tokio::test]` uses).
pub async fn settle() {
    for _ in 0..16 {
        tokio::task::yield_now().await;
    }
}

/// Collects the log lines (all levels) emitted on this thread while it is alive.
///
/// It sees the tasks of a current-thread runtime, such as the one `#[tokio::test]`
/// starts, and not those on other threads. The first capture installs a process-wide
/// subscriber that hands each thread's events to that thread's capture (and drops the
/// others): thread-local subscribers would race with each other in tracing's
/// per-callsite cache when tests run in parallel, and miss events. If the process
/// already has a global subscriber, the capture falls back to a thread-local one.
///
/// ```
/// let logs = oslo::testing::LogCapture::start();
/// tracing::warn!("disk almost full");
/// assert!(logs.contains("disk almost full"));
/// ```
#[derive(Debug)]
pub struct LogCapture {
    buffer: SharedBuffer,
    /// The capture this one replaced on this thread, put back on drop.
    previous: Option<SharedBuffer>,
    _fallback: Option<DefaultGuard>,
}

thread_local! {
    /// Where the process-wide capturing subscriber writes this thread's events.
    static THREAD_CAPTURE: RefCell<Option<SharedBuffer>> = const { RefCell::new(None) };
}

/// Whether the process-wide capturing subscriber is the global default.
fn global_capture_installed() -> bool {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    *INSTALLED.get_or_init(|| {
        let subscriber = capturing_subscriber(|| ThreadWriter);
        tracing::subscriber::set_global_default(subscriber).is_ok()
    })
}

fn capturing_subscriber<W>(make_writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(make_writer)
        .without_time()
        .finish()
}

impl LogCapture {
    /// Starts capturing, until the value is dropped.
    pub fn start() -> Self {
        let buffer = SharedBuffer::default();
        let fallback = if global_capture_installed() {
            None
        } else {
            let writer = buffer.clone();
            let subscriber = capturing_subscriber(move || writer.clone());
            Some(tracing::subscriber::set_default(subscriber))
        };
        let previous = THREAD_CAPTURE.with(|capture| capture.borrow_mut().replace(buffer.clone()));
        LogCapture {
            buffer,
            previous,
            _fallback: fallback,
        }
    }

    /// Everything logged so far.
    pub fn contents(&self) -> String {
        let bytes = self.buffer.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Whether some log line contains `text`.
    pub fn contains(&self, text: &str) -> bool {
        self.contents().contains(text)
    }

    /// How many log lines contain every one of `parts`: a message and its fields, say.
    ///
    /// ```
    /// let logs = oslo::testing::LogCapture::start();
    /// tracing::warn!(disk = "/var", "disk almost full");
    /// assert_eq!(logs.lines_with(&["disk almost full", "disk=\"/var\""]), 1);
    /// ```
    pub fn lines_with(&self, parts: &[&str]) -> usize {
        self.contents()
            .lines()
            .filter(|line| parts.iter().all(|part| line.contains(part)))
            .count()
    }

    /// How many log lines contain `text`.
    pub fn count(&self, text: &str) -> usize {
        self.contents()
            .lines()
            .filter(|line| line.contains(text))
            .count()
    }
}

impl Drop for LogCapture {
    fn drop(&mut self) {
        let previous = self.previous.take();
        THREAD_CAPTURE.with(|capture| *capture.borrow_mut() = previous);
    }
}

#[derive(Clone, Debug, Default)]
struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuffer {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes to the calling thread's capture, or nowhere when it has none.
struct ThreadWriter;

impl Write for ThreadWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        THREAD_CAPTURE.with(|capture| match capture.borrow_mut().as_mut() {
            Some(buffer) => buffer.write(bytes),
            None => Ok(bytes.len()),
        })
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
