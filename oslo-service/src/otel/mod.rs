//! Traces for an OpenTelemetry collector (feature `otel`), from `[otel]`: a span for
//! each HTTP request (its parent from a W3C `traceparent` header), each periodic task
//! run and each reload, sent over OTLP/HTTP in protobuf.
//!
//! A finished span goes onto a bounded queue (through a stage of its thread's own); an
//! exporter on a thread of its own posts the queue in batches, woken when a batch is
//! full or a second has passed. A request never waits for the collector: when the
//! queue is full the spans are dropped and counted (`oslo_otel_spans_dropped_total`).
//! What is queued is sent before the process ends its graceful stop (a SIGTERM, a
//! worker's recycle or reload, an upgrade's hand-over), within a bound.

mod encode;
mod export;
mod proto;
mod queue;
mod settings;
mod traceparent;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot};

use queue::Queue;

use crate::config::{Config, ConfigError};

pub(crate) use settings::check;

/// The longest a stop waits for the queued spans to be sent.
const MAX_FLUSH: Duration = Duration::from_secs(5);

/// What a span that ends needs: where it goes and how roots are sampled.
struct Tracer {
    queue: Arc<Queue>,
    flushes: mpsc::Sender<oneshot::Sender<()>>,
    ratio: f64,
}

static TRACER: OnceLock<Tracer> = OnceLock::new();

/// The collector refused or failed the last export: no span is made until an export
/// goes through again (the exporter tries one, empty, each second), for every span
/// made meanwhile would be dropped anyway. A request then pays one atomic load.
static COLLECTOR_DOWN: AtomicBool = AtomicBool::new(false);

/// What the exporter learnt of the collector from its last export.
pub(super) fn collector_down(down: bool) {
    COLLECTOR_DOWN.store(down, Ordering::Relaxed);
}

/// Spans not made while the collector was down, not yet counted in the metrics: the
/// exporter moves them there each tick, so that a request pays an atomic add, on a
/// counter of its thread's own (one shared by every thread bounced its cache line
/// between the cores at each request).
static NOT_MADE: [Shard; SHARDS] = [const { Shard(AtomicU64::new(0)) }; SHARDS];

const SHARDS: usize = 8;

/// A counter alone on its cache line.
#[repr(align(128))]
struct Shard(AtomicU64);

/// The shard of [`NOT_MADE`] the calling thread adds to.
fn not_made_shard() -> &'static AtomicU64 {
    &NOT_MADE[thread_number() % SHARDS].0
}

/// The calling thread's number, given in the order threads first ask: it picks the
/// thread's shard of a counter and its stage of the queue, so that the threads that
/// serve requests (the first to ask) each have their own.
fn thread_number() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static NUMBER: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    // A thread that is ending (its locals gone) shares number 0.
    NUMBER.try_with(|number| *number).unwrap_or(0)
}

/// Whether the collector is down; if so, the span that was to be made is counted.
fn collector_is_down() -> bool {
    if !COLLECTOR_DOWN.load(Ordering::Relaxed) {
        return false;
    }
    not_made_shard().fetch_add(1, Ordering::Relaxed);
    true
}

/// The spans not made since the last call.
pub(super) fn take_not_made() -> u64 {
    NOT_MADE
        .iter()
        .map(|shard| shard.0.swap(0, Ordering::Relaxed))
        .fold(0, u64::saturating_add)
}

/// The exporter, between the process's start and its runtime's.
static EXPORTER: Mutex<Option<export::Exporter>> = Mutex::new(None);

/// Reads `[otel]` at a process's start: from then on it traces, or not. A reload
/// changes nothing here.
pub(crate) fn configure(conf: &Config, program: &str) -> Result<(), ConfigError> {
    let Some(settings) = settings::read(&conf.snapshot())? else {
        return Ok(());
    };
    let ratio = settings.ratio;
    let queue = Arc::new(Queue::default());
    let (flushes, asked) = mpsc::channel(1);
    if TRACER
        .set(Tracer {
            queue: Arc::clone(&queue),
            flushes,
            ratio,
        })
        .is_ok()
    {
        let exporter = export::Exporter::new(settings, program, queue, asked);
        *EXPORTER.lock().unwrap_or_else(|e| e.into_inner()) = Some(exporter);
    }
    Ok(())
}

/// Starts the exporter on a thread of its own; `worker` names the service and index
/// of a worker process, for the spans' resource.
///
/// Not on the process's runtime: a POST's kernel work (the copy of its body, on
/// loopback the collector's receive too) would then run on a thread that serves
/// requests, and hold each of them back. On its own thread, the scheduler runs it on
/// whichever core has room.
pub(crate) fn start(worker: Option<(String, usize)>) {
    let exporter = EXPORTER.lock().unwrap_or_else(|e| e.into_inner()).take();
    let Some(exporter) = exporter else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(err) => {
            tracing::warn!(error = %err, "cannot start the span exporter's runtime, exporting from the process's own");
            tokio::spawn(exporter.run(worker));
            return;
        }
    };
    let spawned = std::thread::Builder::new()
        .name("oslo-otel".to_owned())
        .spawn(move || {
            background_priority();
            runtime.block_on(exporter.run(worker))
        });
    if let Err(err) = spawned {
        tracing::warn!(error = %err, "cannot start the span exporter's thread, no span is sent");
    }
}

/// The calling thread (the exporter's) yields to those that serve requests: at a lower
/// priority, its wake-ups (a few a batch) do not preempt them, and a batch waits for a
/// core that has room. Best effort: at the default priority it works all the same.
fn background_priority() {
    const NICER: i32 = 10;
    // The highest nice value Linux has.
    const NICEST: i32 = 19;
    let thread = rustix::thread::gettid();
    if let Ok(now) = rustix::process::getpriority_process(Some(thread)) {
        let nice = now.saturating_add(NICER).min(NICEST);
        let _ = rustix::process::setpriority_process(Some(thread), nice);
    }
}

/// Sends what is queued, waiting `within` at most (and never more than 5 s).
pub(crate) async fn flush(within: Duration) {
    let Some(tracer) = TRACER.get() else {
        return;
    };
    let (done, answer) = oneshot::channel();
    let asked = async {
        if tracer.flushes.send(done).await.is_ok() {
            let _ = answer.await;
        }
    };
    if tokio::time::timeout(within.min(MAX_FLUSH), asked)
        .await
        .is_err()
    {
        tracing::warn!("spans not sent to the collector before the stop");
    }
}

/// Where a span's name is written, in parts.
pub(crate) struct Name<'a>(&'a mut Vec<u8>);

impl Name<'_> {
    /// Appends `part` to the name.
    pub(crate) fn push(&mut self, part: &str) {
        self.0.extend_from_slice(part.as_bytes());
    }
}

/// A span being recorded: sent to the queue when dropped.
#[derive(Debug)]
pub(crate) struct Span {
    record: Record,
}

/// What a span records: its ids, times and name, and its attributes written as
/// protobuf as they are added. The name and the attributes share one buffer, taken from
/// and given back to the thread's spares, so that a traced request allocates nothing
/// once its thread has served a few.
#[derive(Debug, Default)]
pub(super) struct Record {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    parent: Option<[u8; 8]>,
    kind: i32,
    start: u64,
    end: u64,
    /// The name, then the attributes, each a `KeyValue` field of `Span`.
    bytes: Vec<u8>,
    /// Where the name ends in `bytes`.
    name_end: usize,
    error: Option<String>,
}

/// The buffer most spans need: a request's name, method, path and client address.
const BYTES_CAPACITY: usize = 192;

/// Spare buffers a thread keeps at most, and the longest kept.
const SPARES: usize = 32;
const LONGEST_SPARE: usize = 4096;

thread_local! {
    static SPARE: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Record {
    /// A span named by what `name` writes (UTF-8).
    fn named(kind: i32, name: impl FnOnce(&mut Vec<u8>)) -> Self {
        let mut bytes = SPARE
            .try_with(|spare| spare.borrow_mut().pop())
            .ok()
            .flatten()
            .unwrap_or_else(|| Vec::with_capacity(BYTES_CAPACITY));
        name(&mut bytes);
        Record {
            kind,
            name_end: bytes.len(),
            bytes,
            ..Record::default()
        }
    }

    /// The name, UTF-8 as [`Name`] wrote it.
    fn name_bytes(&self) -> &[u8] {
        &self.bytes[..self.name_end]
    }

    #[cfg(test)]
    fn name(&self) -> &str {
        std::str::from_utf8(self.name_bytes()).unwrap_or_default()
    }

    /// The attributes, as written.
    fn attributes(&self) -> &[u8] {
        &self.bytes[self.name_end..]
    }

    fn push(&mut self, key: &str, value: encode::Value<'_>) {
        encode::write_attribute(key, value, &mut self.bytes);
    }

    /// Gives the buffer back to the thread's spares.
    fn recycle(self) {
        let mut bytes = self.bytes;
        if bytes.capacity() > LONGEST_SPARE {
            return;
        }
        bytes.clear();
        let _ = SPARE.try_with(|spare| {
            let mut spare = spare.borrow_mut();
            if spare.len() < SPARES {
                spare.push(bytes);
            }
        });
    }

    /// The span as prost's message: what the encoder writes by hand, for its tests.
    #[cfg(test)]
    fn to_proto(&self) -> proto::Span {
        use prost::Message;
        // The attributes are `Span` fields: they decode as a span that has only them.
        let mut span = proto::Span::decode(self.attributes()).expect("attributes decode");
        span.trace_id = self.trace_id.to_vec();
        span.span_id = self.span_id.to_vec();
        span.parent_span_id = self.parent.map(|id| id.to_vec()).unwrap_or_default();
        span.name = self.name().to_owned();
        span.kind = self.kind;
        span.start_time_unix_nano = self.start;
        span.end_time_unix_nano = self.end;
        span.status = self.error.clone().map(|message| proto::Status {
            message,
            code: proto::STATUS_ERROR,
        });
        span.flags = 1;
        span
    }
}

/// The span of a request, child of its `traceparent` when valid, named by what `name`
/// writes; `None` when tracing is off or the request is not sampled.
#[cfg_attr(not(feature = "http"), allow(dead_code))] // the HTTP server's alone
pub(crate) fn server(traceparent: Option<&[u8]>, name: impl FnOnce(&mut Name<'_>)) -> Option<Span> {
    let tracer = TRACER.get()?;
    if collector_is_down() {
        return None;
    }
    let parent = traceparent.and_then(traceparent::parse);
    if !traceparent::sampled(parent.as_ref(), tracer.ratio, fastrand::f64) {
        return None;
    }
    Some(Span::new(parent.as_ref(), proto::KIND_SERVER, name))
}

/// The span of work the process does of itself (a periodic task's run, a reload): the
/// root of a trace, named by what `name` writes.
pub(crate) fn internal(name: impl FnOnce(&mut Name<'_>)) -> Option<Span> {
    let tracer = TRACER.get()?;
    if collector_is_down() {
        return None;
    }
    if !traceparent::sampled(None, tracer.ratio, fastrand::f64) {
        return None;
    }
    Some(Span::new(None, proto::KIND_INTERNAL, name))
}

impl Span {
    fn new(
        parent: Option<&traceparent::Parent>,
        kind: i32,
        name: impl FnOnce(&mut Name<'_>),
    ) -> Self {
        let mut record = Record::named(kind, |bytes| name(&mut Name(bytes)));
        record.trace_id = match parent {
            Some(parent) => parent.trace_id,
            None => nonzero(|| fastrand::u128(..).to_le_bytes()),
        };
        record.span_id = nonzero(|| fastrand::u64(..).to_le_bytes());
        record.parent = parent.map(|parent| parent.span_id);
        record.start = unix_nanos(SystemTime::now());
        Span { record }
    }

    /// Adds a text attribute.
    pub(crate) fn text(&mut self, key: &'static str, value: &str) {
        self.record.push(key, encode::Value::Text(value));
    }

    /// Adds a number attribute.
    pub(crate) fn number(&mut self, key: &'static str, value: i64) {
        self.record.push(key, encode::Value::Int(value));
    }

    /// Marks the span failed, with why.
    pub(crate) fn fail(&mut self, message: impl Into<String>) {
        self.record.error = Some(message.into());
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        let mut record = std::mem::take(&mut self.record);
        let Some(tracer) = TRACER.get() else {
            return;
        };
        // The wall clock at both ends (one reading fewer than an `Instant` beside it),
        // never ending before it started.
        record.end = unix_nanos(SystemTime::now()).max(record.start);
        let len = encode::span_len(&record);
        let queued = tracer
            .queue
            .push(len, |buf| encode::write_span(&record, len, buf));
        if let Err(full) = queued {
            crate::metrics::otel_dropped("queue_full", full.dropped as u64);
        }
        record.recycle();
    }
}

/// An id drawn until it is not all zeros (which means "no id").
fn nonzero<const N: usize>(draw: impl Fn() -> [u8; N]) -> [u8; N] {
    loop {
        let id = draw();
        if id != [0; N] {
            return id;
        }
    }
}

fn unix_nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |since| {
        u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spares() -> Vec<usize> {
        SPARE.with(|spare| spare.borrow().iter().map(Vec::capacity).collect())
    }

    #[test]
    fn a_thread_keeps_a_bounded_number_of_short_buffers() {
        // A test's own thread: its spares start empty.
        assert!(spares().is_empty());
        let long = Record::named(proto::KIND_SERVER, |name| {
            name.resize(LONGEST_SPARE + 1, b'a');
        });
        long.recycle();
        assert!(spares().is_empty(), "a long buffer is not kept");
        for _ in 0..SPARES + 5 {
            Record {
                bytes: Vec::with_capacity(BYTES_CAPACITY),
                ..Record::default()
            }
            .recycle();
        }
        assert_eq!(spares().len(), SPARES);
        let reused = Record::named(proto::KIND_SERVER, |name| name.push(b'x'));
        assert_eq!(spares().len(), SPARES - 1, "a spare was taken");
        assert_eq!(reused.name(), "x", "and it starts empty");
    }
}
