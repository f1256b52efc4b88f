//! `[otel]`: spans of HTTP requests, periodic task runs and reloads, sent over OTLP/HTTP
//! in protobuf to a real receiver that decodes them with the `opentelemetry-proto`
//! package from PyPI (tests/support/otlp_receiver.py), through a reload, a SIGTERM
//! right after a request, and a collector that is down.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use rustix::process::Signal;
use serde_json::Value;
use support::{Service, python};

const API: &str = env!("CARGO_BIN_EXE_api");
const TALLY: &str = env!("CARGO_BIN_EXE_tally");

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";

/// The receiver, and every span it has printed so far.
struct Receiver {
    child: Child,
    port: u16,
    spans: Arc<Mutex<Vec<Value>>>,
}

impl Receiver {
    fn start() -> Receiver {
        Receiver::start_on(0)
    }

    /// A receiver on `port` (0: any free one).
    fn start_on(port: u16) -> Receiver {
        let venv = python::venv_with("opentelemetry-proto", |venv| {
            python::imports(
                venv,
                "opentelemetry.proto.collector.trace.v1.trace_service_pb2",
            )
        });
        let mut child = Command::new(venv.join("bin/python"))
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/support/otlp_receiver.py"
            ))
            .arg(port.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("run the receiver");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().expect("the receiver's port").unwrap();
        let port = first
            .strip_prefix("listening ")
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("not a port: {first}"));
        let spans = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&spans);
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let span: Value = serde_json::from_str(&line).expect("a JSON span");
                seen.lock().unwrap().push(span);
            }
        });
        Receiver { child, port, spans }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The first span `matches` accepts, waited for.
    fn wait_span(&self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        let mut found = None;
        support::wait_until(what, || {
            found = self
                .spans
                .lock()
                .unwrap()
                .iter()
                .find(|s| matches(s))
                .cloned();
            found.is_some()
        });
        found.unwrap()
    }

    fn spans(&self) -> Vec<Value> {
        self.spans.lock().unwrap().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn get(port: u16, path: &str, headers: &str) -> u16 {
    support::http::Connection::open(port)
        .and_then(|mut conn| conn.get(path, headers))
        .expect("an answer")
        .status
}

/// The nice value of the process's span exporter thread, once it runs.
fn exporter_nice(pid: u32) -> Option<i64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    tasks.flatten().find_map(|task| {
        let comm = std::fs::read_to_string(task.path().join("comm")).ok()?;
        if comm.trim_end() != "oslo-otel" {
            return None;
        }
        nice_of(&task.path().join("stat"))
    })
}

/// The nice value in a `/proc/…/stat` file: the 17th field after the command's
/// closing parenthesis.
fn nice_of(stat: &std::path::Path) -> Option<i64> {
    let stat = std::fs::read_to_string(stat).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(16)?
        .parse()
        .ok()
}

fn api_config(otel: &str) -> String {
    format!("[DEFAULT]\n[api]\nport = 0\nworkers = 2\n[otel]\n{otel}")
}

#[test]
fn request_spans_follow_their_traceparent_and_arrive_through_a_reload_and_a_sigterm() {
    let receiver = Receiver::start();
    let config = api_config(&format!(
        "endpoint = {}\nheaders = x-api-key=s3cret-key\n",
        receiver.endpoint()
    ));
    let (mut service, port) = support::start_listening(API, &config);
    // The exporter runs on a thread of its own, below the threads that serve (the
    // thread is named before it lowers its own priority: waited for, not read once).
    let own = nice_of(format!("/proc/{}/stat", service.pid()).as_ref()).unwrap();
    let lowered = (own + 10).min(19);
    support::wait_until(&format!("the exporter's thread at nice {lowered}"), || {
        exporter_nice(service.pid()) == Some(lowered)
    });
    let traceparent = format!("traceparent: 00-{TRACE_ID}-{PARENT_ID}-01\r\n");
    assert_eq!(get(port, "/v1/whoami", &traceparent), 200);
    // A reload replaces the workers with a graceful stop; its own span comes from the
    // launcher's process.
    service.signal(Signal::HUP);
    service.wait_for_log("configuration reloaded", 1);
    // The new workers serve; the span of a request right before a SIGTERM still
    // arrives, sent by the worker's stop.
    support::wait_until("a worker of the new generation", || {
        get(port, "/", "") == 200
    });
    assert_eq!(get(port, "/v1/after-reload", ""), 404);
    service.signal(Signal::TERM);
    assert!(service.wait_exit().success(), "{}", service.log());

    let child = receiver.wait_span("the child of the traceparent", |s| {
        s["trace_id"] == TRACE_ID
    });
    assert_eq!(child["parent_span_id"], PARENT_ID);
    assert_eq!(child["name"], "GET /v1/whoami");
    assert_eq!(child["kind"], 2, "SERVER");
    assert_eq!(child["attributes"]["http.request.method"], "GET");
    assert_eq!(child["attributes"]["url.path"], "/v1/whoami");
    assert_eq!(child["attributes"]["http.response.status_code"], 200);
    assert_eq!(child["attributes"]["client.address"], "127.0.0.1");
    assert!(child["end"].as_u64() >= child["start"].as_u64());
    assert_eq!(child["span_id"].as_str().unwrap().len(), 16);
    // The configured headers go with every export.
    assert_eq!(child["api_key"], "s3cret-key");
    let resource = &child["resource"];
    assert_eq!(resource["service.name"], "api");
    assert!(
        resource["host.name"]
            .as_str()
            .is_some_and(|h| !h.is_empty())
    );
    let worker_pid = resource["process.pid"].as_i64().unwrap();
    assert_ne!(worker_pid, i64::from(service.pid()));
    assert!(
        resource["oslo.worker.index"]
            .as_i64()
            .is_some_and(|i| i < 2)
    );

    // Sent right before the SIGTERM: a root span of its own.
    let last = receiver.wait_span("the last request's span", |s| {
        s["attributes"]["url.path"] == "/v1/after-reload"
    });
    assert_eq!(last["attributes"]["http.response.status_code"], 404);
    assert_eq!(last["parent_span_id"], "");
    assert_ne!(last["trace_id"], TRACE_ID);

    let reload = receiver.wait_span("the reload's span", |s| s["name"] == "reload");
    assert_eq!(reload["kind"], 1, "INTERNAL");
    assert_eq!(reload["resource"]["process.pid"], i64::from(service.pid()));
    assert!(reload["resource"].get("oslo.worker.index").is_none());
    // The secret is never logged.
    assert!(!service.log().contains("s3cret"), "{}", service.log());
}

#[test]
fn an_unsampled_parent_and_a_zero_ratio_send_nothing_but_sampled_parents() {
    let receiver = Receiver::start();
    let config = api_config(&format!(
        "endpoint = {}\nsample_ratio = 0\nservice_name = compute-api\n",
        receiver.endpoint()
    ));
    let (mut service, port) = support::start_listening(API, &config);
    let unsampled = format!("traceparent: 00-{TRACE_ID}-{PARENT_ID}-00\r\n");
    assert_eq!(get(port, "/v1/whoami", &unsampled), 200);
    assert_eq!(get(port, "/v1/whoami", ""), 200);
    let sampled = format!("traceparent: 00-{TRACE_ID}-{PARENT_ID}-01\r\n");
    assert_eq!(get(port, "/v1/sampled", &sampled), 404);
    service.signal(Signal::TERM);
    assert!(service.wait_exit().success(), "{}", service.log());
    let span = receiver.wait_span("the sampled request", |s| s["trace_id"] == TRACE_ID);
    assert_eq!(span["resource"]["service.name"], "compute-api");
    let spans = receiver.spans();
    assert_eq!(spans.len(), 1, "{spans:?}");
}

#[test]
fn periodic_task_runs_have_spans() {
    let receiver = Receiver::start();
    let config = format!(
        "[DEFAULT]\n[tally]\nport = 0\nworkers = 2\n[otel]\nendpoint = {}\n",
        receiver.endpoint()
    );
    let (_service, _port) = support::start_listening(TALLY, &config);
    let run = receiver.wait_span("a periodic task's span", |s| {
        s["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("periodic "))
    });
    assert_eq!(run["kind"], 1, "INTERNAL");
    assert!(run["attributes"]["oslo.periodic_task"].as_str().is_some());
    assert!(
        run["resource"]["oslo.worker.index"]
            .as_i64()
            .is_some_and(|i| i < 2)
    );
}

#[test]
fn a_collector_that_is_down_slows_no_request_and_its_drops_are_counted() {
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    let endpoint = format!("http://127.0.0.1:{closed_port}");
    drop(closed);
    let config = api_config(&format!("endpoint = {endpoint}\n"))
        .replace("[otel]", "[metrics]\nenabled = true\nport = 0\n[otel]");
    let (mut service, port) = support::start_listening(API, &config);
    let metrics = support::metrics_port(&service.wait_for_log("serving metrics at", 1));
    const REQUESTS: usize = 60;
    for _ in 0..REQUESTS {
        assert_eq!(get(port, "/v1/whoami", ""), 200);
    }
    // Every span is dropped, and counted once the exporter has tried.
    let dropped = || {
        let text = support::http::get(metrics, "/metrics").unwrap().text();
        text.lines()
            .filter(|line| line.starts_with("oslo_otel_spans_dropped_total{"))
            .filter(|line| {
                line.contains("reason=\"export_failed\"")
                    || line.contains("reason=\"collector_down\"")
            })
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    support::wait_until("the dropped spans counted", || dropped() >= REQUESTS as f64);
    assert_eq!(dropped(), REQUESTS as f64);
    let text = support::http::get(metrics, "/metrics").unwrap().text();
    let requests: f64 = text
        .lines()
        .filter(|line| line.starts_with("oslo_http_requests_total{"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(requests, REQUESTS as f64, "{text}");
    assert!(support::has_line(
        &service.log(),
        &["WARN", "cannot send spans to the collector"]
    ));
    // The collector comes back on its port: the exporter's empty export finds it, and
    // the requests' spans are made and sent again.
    let receiver = Receiver::start_on(closed_port);
    support::wait_until("spans after the collector's return", || {
        assert_eq!(get(port, "/v1/again", ""), 404);
        receiver
            .spans
            .lock()
            .unwrap()
            .iter()
            .any(|span| span["attributes"]["url.path"] == "/v1/again")
    });
    service.wait_log("spans reach the collector again");
    service.signal(Signal::TERM);
    assert!(service.wait_exit().success(), "{}", service.log());
}

#[test]
fn bad_otel_options_stop_the_start() {
    Service::expect_start_refused(
        API,
        "[DEFAULT]\n[api]\nport = 0\n[otel]\nendpoint = https://collector:4318\n",
        "5: invalid value 'https://collector:4318' for option endpoint in group [otel]",
    );
}
