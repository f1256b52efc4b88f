//! What the framework's modules call to record: short functions that do nothing when
//! metrics are off. The same names exist without feature `metrics`, doing nothing.

// Each wing records its own: with metrics but without `http` or `coordination`, their
// recorders have no caller.
#![cfg_attr(not(all(feature = "http", feature = "coordination")), allow(dead_code))]

use std::sync::{LazyLock, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;

use super::grpc::{Code, Methods, code_label};
use super::registry::FAMILIES;
use super::settings::enabled;

/// A request being served, recorded when dropped: its method, its status class and
/// how long it took.
#[derive(Debug)]
pub(crate) struct HttpRequest {
    method: usize,
    status: usize,
    started: Instant,
}

/// The methods HTTP defines keep their name; any other, which a client may make up
/// by the thousand, is `other`.
const METHODS: [&str; 10] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE", "other",
];
const STATUSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "none"];

/// The counter of each (method, status class), looked up in its family once: a
/// request then costs an atomic add, not a lock and a hash.
static REQUESTS: [[OnceLock<Counter>; STATUSES.len()]; METHODS.len()] =
    [const { [const { OnceLock::new() }; STATUSES.len()] }; METHODS.len()];

/// Starts recording a request with `method`: `None` when metrics are off.
pub(crate) fn http_request(method: &str) -> Option<HttpRequest> {
    if !enabled() {
        return None;
    }
    FAMILIES.http.in_flight.inc();
    let other = METHODS.len() - 1;
    Some(HttpRequest {
        method: METHODS[..other]
            .iter()
            .position(|m| *m == method)
            .unwrap_or(other),
        status: STATUSES.len() - 1,
        started: Instant::now(),
    })
}

impl HttpRequest {
    /// The status the request was answered with.
    pub(crate) fn answered(&mut self, status: u16) {
        self.status = match status {
            100..=199 => 0,
            200..=299 => 1,
            300..=399 => 2,
            400..=499 => 3,
            _ => 4,
        };
    }
}

impl Drop for HttpRequest {
    fn drop(&mut self) {
        let http = &FAMILIES.http;
        http.in_flight.dec();
        let (method, status) = (self.method, self.status);
        REQUESTS[method][status]
            .get_or_init(|| {
                http.requests.get_or_create_owned(&[
                    ("method", METHODS[method]),
                    ("status", STATUSES[status]),
                ])
            })
            .inc();
        http.duration.observe(self.started.elapsed().as_secs_f64());
    }
}

/// A gRPC call being served, recorded when dropped: its method, its status code and
/// how long it took.
#[derive(Debug)]
pub(crate) struct GrpcCall {
    path: String,
    code: Option<Code>,
    started: Instant,
}

/// The methods labelled by their path in this process.
static GRPC_METHODS: LazyLock<Mutex<Methods>> = LazyLock::new(Mutex::default);

/// Starts recording a request to `path` with `content_type`, if it is a gRPC call:
/// `None` when it is not, or when metrics are off.
pub(crate) fn grpc_call(content_type: Option<&[u8]>, path: &str) -> Option<GrpcCall> {
    let grpc = content_type.is_some_and(|kind| kind.starts_with(b"application/grpc"));
    if !grpc || !enabled() {
        return None;
    }
    Some(GrpcCall {
        path: path.to_owned(),
        code: None,
        started: Instant::now(),
    })
}

impl GrpcCall {
    /// The HTTP status of the response: one other than 200 is a code of its own to a
    /// client, unless a `grpc-status` says otherwise.
    pub(crate) fn answered(&mut self, status: u16) {
        if status != 200 {
            self.code = Some(Code::from_http(status));
        }
    }

    /// A `grpc-status`, in the response's trailers or in the headers of a
    /// trailers-only answer.
    pub(crate) fn status(&mut self, status: &[u8]) {
        self.code = Some(Code::parse(status));
    }
}

impl Drop for GrpcCall {
    fn drop(&mut self) {
        let method = GRPC_METHODS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .label(&self.path, self.code);
        let grpc = &FAMILIES.grpc;
        grpc.requests
            .get_or_create(&[
                ("method", method.clone()),
                ("code", code_label(self.code).to_owned()),
            ])
            .inc();
        grpc.duration
            .get_or_create(&[("method", method)])
            .observe(self.started.elapsed().as_secs_f64());
    }
}

/// Bytes of a request body read.
pub(crate) fn http_received(bytes: usize) {
    if enabled() {
        FAMILIES.http.received.inc_by(bytes as u64);
    }
}

/// Bytes of a response body written.
pub(crate) fn http_sent(bytes: usize) {
    if enabled() {
        FAMILIES.http.sent.inc_by(bytes as u64);
    }
}

/// A request the server answered itself, for `cause`.
pub(crate) fn http_refused(cause: &'static str) {
    if enabled() {
        FAMILIES
            .http
            .refused
            .get_or_create(&[("cause", cause)])
            .inc();
    }
}

/// A client cut for `cause`.
pub(crate) fn http_cut(cause: &'static str) {
    if enabled() {
        FAMILIES.http.cut.get_or_create(&[("cause", cause)]).inc();
    }
}

/// A connection opened (`1`) or closed (`-1`).
pub(crate) fn http_connections(change: i64) {
    if enabled() {
        FAMILIES.http.open.inc_by(change);
    }
}

/// A connection became idle (`1`) or stopped being idle (`-1`).
pub(crate) fn http_idle(change: i64) {
    if enabled() {
        FAMILIES.http.idle.inc_by(change);
    }
}

/// A run of periodic task `task`.
pub(crate) fn periodic_ran(task: &str, took: Duration, failed: bool) {
    if !enabled() {
        return;
    }
    let periodic = &FAMILIES.periodic;
    let label = [("task", task.to_owned())];
    periodic.runs.get_or_create(&label).inc();
    if failed {
        periodic.failures.get_or_create(&label).inc();
    }
    periodic
        .duration
        .get_or_create(&label)
        .observe(took.as_secs_f64());
}

/// A period of cluster task `task` that ran elsewhere or could not be claimed.
pub(crate) fn periodic_skipped(task: &str) {
    if enabled() {
        FAMILIES
            .periodic
            .skipped
            .get_or_create(&[("task", task.to_owned())])
            .inc();
    }
}

/// The workers of `service`: wanted, alive and ready.
pub(crate) fn workers(service: &str, wanted: usize, alive: usize, ready: usize) {
    if !enabled() {
        return;
    }
    let launcher = &FAMILIES.launcher;
    let label = [("service", service.to_owned())];
    let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    launcher.wanted.get_or_create(&label).set(count(wanted));
    launcher.alive.get_or_create(&label).set(count(alive));
    launcher.ready.get_or_create(&label).set(count(ready));
}

/// A worker of `service` replaced, for `reason`.
pub(crate) fn worker_restarted(service: &str, reason: &'static str) {
    if enabled() {
        FAMILIES
            .launcher
            .restarts
            .get_or_create(&[
                ("service", service.to_owned()),
                ("reason", reason.to_owned()),
            ])
            .inc();
    }
}

/// A worker of `service` to be replaced new-before-old, for `reason` (the option it
/// reached).
pub(crate) fn worker_recycled(service: &str, reason: &'static str) {
    if enabled() {
        FAMILIES
            .launcher
            .recycles
            .get_or_create(&[
                ("service", service.to_owned()),
                ("reason", reason.to_owned()),
            ])
            .inc();
    }
}

/// A reload, accepted or refused; `generation` is the configuration's after it.
pub(crate) fn reloaded(accepted: bool, generation: u64) {
    if !enabled() {
        return;
    }
    let outcome = if accepted { "accepted" } else { "refused" };
    let launcher = &FAMILIES.launcher;
    launcher
        .reloads
        .get_or_create(&[("outcome", outcome)])
        .inc();
    launcher
        .generation
        .set(i64::try_from(generation).unwrap_or(i64::MAX));
}

/// The launcher waited before starting a worker.
pub(crate) fn fork_rate_slept() {
    if enabled() {
        FAMILIES.launcher.fork_rate_sleeps.inc();
    }
}

/// A claim of a cluster task's period: `won`, `lost` or `failed`.
pub(crate) fn claimed(outcome: &'static str) {
    if enabled() {
        FAMILIES
            .coordination
            .claims
            .get_or_create(&[("outcome", outcome)])
            .inc();
    }
}

/// The host's lease was renewed.
pub(crate) fn lease_renewed() {
    if enabled() {
        FAMILIES.coordination.renewals.inc();
    }
}

/// The host's lease was lost.
pub(crate) fn lease_lost() {
    if enabled() {
        FAMILIES.coordination.losses.inc();
    }
}

/// A call to etcd failed.
pub(crate) fn etcd_error() {
    if enabled() {
        FAMILIES.coordination.errors.inc();
    }
}

/// Whether this host leads `group`.
pub(crate) fn leading(group: &str, leads: bool) {
    if enabled() {
        FAMILIES
            .coordination
            .leader
            .get_or_create(&[("group", group.to_owned())])
            .set(i64::from(leads));
    }
}

/// Workers that did not answer a scrape in time, or whose answer did not decode.
pub(super) fn missed_workers(count: u64) {
    FAMILIES.scrape.missed.inc_by(count);
}

/// Spans the collector accepted.
#[cfg_attr(not(feature = "otel"), allow(dead_code))]
pub(crate) fn otel_exported(count: u64) {
    if enabled() {
        FAMILIES.otel.exported.inc_by(count);
    }
}

/// Spans not sent, for `reason`.
#[cfg_attr(not(feature = "otel"), allow(dead_code))]
pub(crate) fn otel_dropped(reason: &'static str, count: u64) {
    if enabled() {
        FAMILIES
            .otel
            .dropped
            .get_or_create(&[("reason", reason)])
            .inc_by(count);
    }
}
