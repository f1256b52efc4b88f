//! Traces for an OpenTelemetry collector (feature `otel`), from `[otel]`: a span for
//! each HTTP request (its parent from a W3C `traceparent` header), each periodic task
//! run and each reload, sent over OTLP/HTTP in protobuf.
//!
//! A finished span goes onto a bounded queue; a task of its own posts the queue in
//! batches, woken when a batch is full or a second has passed. A request never waits for the collector: when the queue is full the span
//! is dropped and counted (`oslo_otel_spans_dropped_total`). What is queued is sent
//! before the process ends its graceful stop (a SIGTERM, a worker's recycle or reload,
//! an upgrade's hand-over), within a bound.

mod encode;
mod export;
mod proto;
mod queue;
mod settings;
mod traceparent;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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
/// exporter moves them there each tick, so that a request pays an atomic add.
static NOT_MADE: AtomicU64 = AtomicU64::new(0);

/// Whether the collector is down; if so, the span that was to be made is counted.
fn collector_is_down() -> bool {
    if !COLLECTOR_DOWN.load(Ordering::Relaxed) {
        return false;
    }
    NOT_MADE.fetch_add(1, Ordering::Relaxed);
    true
}

/// The spans not made since the last call.
pub(super) fn take_not_made() -> u64 {
    NOT_MADE.swap(0, Ordering::Relaxed)
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

/// Starts the exporter on the process's runtime; `worker` names the service and index
/// of a worker process, for the spans' resource.
pub(crate) fn start(worker: Option<(String, usize)>) {
    let exporter = EXPORTER.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(exporter) = exporter {
        tokio::spawn(exporter.run(worker));
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

/// A span being recorded: sent to the queue when dropped.
#[derive(Debug)]
pub(crate) struct Span {
    finished: Finished,
    started: Instant,
}

/// A span once ended, as it waits in the queue.
#[derive(Debug)]
pub(super) struct Finished {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    parent: Option<[u8; 8]>,
    name: String,
    kind: i32,
    start: u64,
    end: u64,
    attributes: Vec<(&'static str, Attr)>,
    error: Option<String>,
}

/// An attribute's value.
#[derive(Debug)]
pub(super) enum Attr {
    Text(String),
    Int(i64),
}

impl Finished {
    /// The span as prost's message: what the encoder writes by hand, for its tests.
    #[cfg(test)]
    fn into_proto(self) -> proto::Span {
        proto::Span {
            trace_id: self.trace_id.to_vec(),
            span_id: self.span_id.to_vec(),
            parent_span_id: self.parent.map(|id| id.to_vec()).unwrap_or_default(),
            name: self.name,
            kind: self.kind,
            start_time_unix_nano: self.start,
            end_time_unix_nano: self.end,
            attributes: self
                .attributes
                .into_iter()
                .map(|(key, value)| {
                    let value = match value {
                        Attr::Text(text) => proto::Value::String(text),
                        Attr::Int(number) => proto::Value::Int(number),
                    };
                    proto::KeyValue::new(key, value)
                })
                .collect(),
            status: self.error.map(|message| proto::Status {
                message,
                code: proto::STATUS_ERROR,
            }),
            flags: 1,
        }
    }
}

/// The span of a request, child of its `traceparent` when valid; `None` when tracing
/// is off or the request is not sampled.
#[cfg_attr(not(feature = "http"), allow(dead_code))] // the HTTP server's alone
pub(crate) fn server(traceparent: Option<&[u8]>, name: impl FnOnce() -> String) -> Option<Span> {
    let tracer = TRACER.get()?;
    if collector_is_down() {
        return None;
    }
    let parent = traceparent.and_then(traceparent::parse);
    if !traceparent::sampled(parent.as_ref(), tracer.ratio, fastrand::f64) {
        return None;
    }
    Some(Span::new(parent.as_ref(), name(), proto::KIND_SERVER))
}

/// The span of work the process does of itself (a periodic task's run, a reload): the
/// root of a trace.
pub(crate) fn internal(name: impl FnOnce() -> String) -> Option<Span> {
    let tracer = TRACER.get()?;
    if collector_is_down() {
        return None;
    }
    if !traceparent::sampled(None, tracer.ratio, fastrand::f64) {
        return None;
    }
    Some(Span::new(None, name(), proto::KIND_INTERNAL))
}

impl Span {
    fn new(parent: Option<&traceparent::Parent>, name: String, kind: i32) -> Self {
        let trace_id = match parent {
            Some(parent) => parent.trace_id,
            None => nonzero(|| fastrand::u128(..).to_le_bytes()),
        };
        Span {
            finished: Finished {
                trace_id,
                span_id: nonzero(|| fastrand::u64(..).to_le_bytes()),
                parent: parent.map(|parent| parent.span_id),
                name,
                kind,
                start: unix_nanos(SystemTime::now()),
                end: 0,
                attributes: Vec::with_capacity(6),
                error: None,
            },
            started: Instant::now(),
        }
    }

    /// Adds a text attribute.
    pub(crate) fn text(&mut self, key: &'static str, value: impl Into<String>) {
        self.finished
            .attributes
            .push((key, Attr::Text(value.into())));
    }

    /// Adds a number attribute.
    pub(crate) fn number(&mut self, key: &'static str, value: i64) {
        self.finished.attributes.push((key, Attr::Int(value)));
    }

    /// Marks the span failed, with why.
    pub(crate) fn fail(&mut self, message: impl Into<String>) {
        self.finished.error = Some(message.into());
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        let Some(tracer) = TRACER.get() else {
            return;
        };
        let took = u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let mut finished = Finished {
            trace_id: self.finished.trace_id,
            span_id: self.finished.span_id,
            parent: self.finished.parent,
            name: std::mem::take(&mut self.finished.name),
            kind: self.finished.kind,
            start: self.finished.start,
            end: 0,
            attributes: std::mem::take(&mut self.finished.attributes),
            error: self.finished.error.take(),
        };
        finished.end = finished.start.saturating_add(took);
        if tracer.queue.push(finished).is_err() {
            crate::metrics::otel_dropped("queue_full", 1);
        }
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
