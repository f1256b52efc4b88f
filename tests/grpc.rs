//! gRPC through the HTTP server, driven through the `grpc` example as real processes,
//! with Python's grpcio as the client (tests/support/grpc_client.py, which compiles
//! examples/proto/greeter.proto with grpcio-tools) and grpcio-health-checking for the
//! standard health service: unary and server-streaming calls in worker processes, the
//! health status following the process, a stream in flight finishing through a
//! SIGTERM's drain, a SIGHUP reload and a SIGUSR2 upgrade under a loop of calls losing
//! none, and the calls counted in the metrics by method and status code, read with
//! prometheus_client's OpenMetrics parser.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use support::{HANG, Service, Signal, Successor, exit_code, python};

const GRPC: &str = env!("CARGO_BIN_EXE_grpc");

fn start(workers: usize) -> (Service, u16) {
    start_with(workers, "")
}

fn start_with(workers: usize, more: &str) -> (Service, u16) {
    let config = format!(
        "[DEFAULT]\ngraceful_shutdown_timeout = 60\n[grpc]\nport = 0\nworkers = {workers}\n{more}"
    );
    support::start_listening(GRPC, &config)
}

/// One sample of a scrape, as prometheus_client's OpenMetrics parser read it.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Scrapes the metrics endpoint on `port` and parses the exposition with
/// prometheus_client's strict OpenMetrics parser.
fn scrape(port: u16) -> Vec<Sample> {
    let response = support::http::Connection::open(port)
        .and_then(|mut conn| conn.get("/metrics", "Accept: application/openmetrics-text\r\n"))
        .expect("scrape");
    assert_eq!(response.status, 200, "{}", response.text());
    let text = response.text();
    python::parse_exposition("openmetrics.py", &text)
        .into_iter()
        .map(|s| Sample {
            name: s["name"].as_str().unwrap().to_owned(),
            labels: serde_json::from_value(s["labels"].clone()).unwrap(),
            value: s["value"].as_f64().unwrap(),
        })
        .collect()
}

/// The sum of the samples named `name` whose labels include every one of `labels`.
fn sum(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

/// A grpcio client in its own process, one command and its events at a time; the
/// script bounds each wait, so none hangs here.
struct Client {
    child: Child,
    commands: ChildStdin,
    events: BufReader<ChildStdout>,
}

impl Client {
    fn connect(port: u16) -> Client {
        let venv = python::venv_with("grpcio", |venv| {
            python::imports(venv, "grpc")
                && python::imports(venv, "grpc_tools.protoc")
                && python::imports(venv, "grpc_health.v1.health_pb2_grpc")
        });
        let mut child = Command::new(venv.join("bin/python"))
            .arg(format!(
                "{}/tests/support/grpc_client.py",
                env!("CARGO_MANIFEST_DIR")
            ))
            .arg(format!("127.0.0.1:{port}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run the grpcio client");
        let commands = child.stdin.take().unwrap();
        let events = BufReader::new(child.stdout.take().unwrap());
        let mut client = Client {
            child,
            commands,
            events,
        };
        let ready = client.event();
        assert_eq!(ready["ready"], true, "{ready}");
        client
    }

    fn send(&mut self, command: &str) {
        writeln!(self.commands, "{command}").unwrap();
    }

    fn event(&mut self) -> serde_json::Value {
        let mut line = String::new();
        self.events
            .read_line(&mut line)
            .expect("the client's output");
        assert!(!line.is_empty(), "the client ended without a word");
        let event: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|err| panic!("{err}: {line}"));
        assert!(event.get("error").is_none(), "the client failed: {event}");
        event
    }

    fn health(&mut self, service: &str) -> serde_json::Value {
        self.send(&format!("health {service}"));
        self.event()
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn unary_and_streaming_calls_are_served_by_the_workers_and_health_says_serving() {
    let (service, port) = start(2);
    let mut client = Client::connect(port);

    // READY=1 has been sent: every worker is up.
    assert_eq!(client.health("-")["health"], "SERVING");
    assert_eq!(client.health("greeter.Greeter")["health"], "SERVING");
    let unknown = client.health("nope.Nope");
    assert_eq!(unknown["failed"], "NOT_FOUND", "{unknown}");

    // Each `hello` opens a connection of its own: both workers answer in time.
    let children: BTreeSet<u64> = support::children_of(service.pid())
        .into_iter()
        .map(u64::from)
        .collect();
    assert_eq!(children.len(), 2, "{children:?}");
    let mut workers = BTreeSet::new();
    let deadline = Instant::now() + HANG;
    while workers.len() < 2 {
        assert!(Instant::now() < deadline, "one worker answered every call");
        client.send("hello ada");
        let answer = client.event();
        assert_eq!(answer["hello"], "hello, ada", "{answer}");
        assert!(
            children.contains(&answer["pid"].as_u64().unwrap()),
            "{answer}"
        );
        workers.insert(answer["worker"].as_u64().expect("a worker's index"));
    }
    assert_eq!(workers, BTreeSet::from([0, 1]));

    client.send("stream grace 5 0");
    for index in 1..=5 {
        let greeting = client.event();
        assert_eq!(greeting["greeting"], index, "{greeting}");
    }
    let end = client.event();
    assert_eq!(end["stream_end"], "OK", "{end}");
    assert_eq!(end["received"], 5, "{end}");
}

#[test]
fn sigterm_drains_health_goes_not_serving_and_a_stream_in_flight_finishes() {
    let (mut service, port) = start(2);
    let mut client = Client::connect(port);
    client.send("watch -");
    let watched = client.event();
    assert_eq!(watched["watch"], "SERVING", "{watched}");
    // 50 greetings 200 ms apart: ten seconds, well past the stop it sees begin.
    client.send("stream drain 50 200");
    let first = client.event();
    assert_eq!(first["greeting"], 1, "{first}");

    service.signal(Signal::TERM);
    // In order: the watch hears NOT_SERVING and ends; the stream goes on through the
    // drain to its last greeting.
    let mut events = Vec::new();
    let mut not_serving_at = None;
    loop {
        let event = client.event();
        if event["watch"] == "NOT_SERVING" {
            not_serving_at = Some(events.len());
        }
        let ended = event.get("stream_end").is_some();
        events.push(event);
        if ended {
            break;
        }
    }
    let not_serving_at = not_serving_at.unwrap_or_else(|| panic!("no NOT_SERVING: {events:?}"));
    let greetings_after = events[not_serving_at..]
        .iter()
        .filter(|event| event.get("greeting").is_some())
        .count();
    assert!(
        greetings_after > 0,
        "the stream ended before the drain began: {events:?}"
    );
    let end = events.last().unwrap();
    assert_eq!(end["stream_end"], "OK", "{events:?}");
    assert_eq!(end["received"], 50, "{events:?}");
    let watch_end = events
        .iter()
        .find(|event| event.get("watch_end").is_some())
        .unwrap_or_else(|| panic!("the watch did not end: {events:?}"));
    assert_eq!(watch_end["watch_end"], "OK", "{events:?}");

    assert_eq!(exit_code(service.wait_exit()), 0);
}

/// Calls in a loop on one channel while `deploy` reloads or upgrades the server: none
/// fails, and the loop ends once a worker that was not among the first has answered.
/// The client is left to answer health.
fn calls_in_a_loop_lose_none_across(service: &Service, port: u16, deploy: impl FnOnce()) -> Client {
    let mut client = Client::connect(port);
    let old: Vec<String> = support::children_of(service.pid())
        .iter()
        .map(u32::to_string)
        .collect();
    assert_eq!(old.len(), 2, "{old:?}");
    client.send(&format!("loop {}", old.join(",")));
    let looping = client.event();
    assert_eq!(looping["looping"], true, "{looping}");

    deploy();
    // The loop ends once a new worker has answered.
    let done = client.event();
    let report = &done["loop"];
    assert_eq!(report["failed"], 0, "{done}");
    assert!(report["ok"].as_u64().unwrap() > 1, "{done}");
    let pids = report["pids"].as_array().unwrap();
    assert!(
        pids.iter()
            .any(|pid| !old.contains(&pid.as_u64().unwrap().to_string())),
        "{done}"
    );
    client
}

#[test]
fn a_sighup_reload_under_a_loop_of_calls_loses_none() {
    let (service, port) = start(2);
    let mut client = calls_in_a_loop_lose_none_across(&service, port, || {
        service.signal(Signal::HUP);
        service.expect_notify("RELOADING=1");
        service.expect_notify("READY=1");
    });
    // The old generation is gone; the new one answers health as SERVING.
    assert_eq!(client.health("-")["health"], "SERVING");
}

#[test]
fn a_sigusr2_upgrade_under_a_loop_of_calls_loses_none() {
    let (mut service, port) = start(2);
    let mut successor = None;
    let mut client = calls_in_a_loop_lose_none_across(&service, port, || {
        service.signal(Signal::USR2);
        let named = Successor::named_in(&service.expect_notify("MAINPID="));
        assert_ne!(named.0, service.pid());
        service.expect_notify("READY=1");
        successor = Some(named);
    });
    // The predecessor drains and exits cleanly; the successor answers health as SERVING.
    assert_eq!(exit_code(service.wait_exit()), 0, "{}", service.log());
    assert_eq!(client.health("-")["health"], "SERVING");
    let successor = successor.unwrap();
    successor.terminate();
    support::wait_until("the successor's exit", || !support::is_alive(successor.0));
}

#[test]
fn calls_are_counted_by_method_and_status_code_and_unknown_methods_as_other() {
    let (service, port) = start_with(2, "[metrics]\nenabled = true\nport = 0\n");
    let metrics_port =
        support::metrics_port(&service.wait_for_log("serving metrics at http://127.0.0.1:", 1));
    let mut client = Client::connect(port);
    for _ in 0..3 {
        client.send("hello ada");
        let answer = client.event();
        assert_eq!(answer["hello"], "hello, ada", "{answer}");
    }
    client.send("raw /nope.Nope/Missing");
    let missing = client.event();
    assert_eq!(missing["failed"], "UNIMPLEMENTED", "{missing}");
    client.send("stream counted 3 0");
    for index in 1..=3 {
        assert_eq!(client.event()["greeting"], index);
    }
    let end = client.event();
    assert_eq!(end["stream_end"], "OK", "{end}");

    // A call is recorded once its response is written, which its client may see first.
    const CALLS: &str = "oslo_grpc_requests_total";
    let hello = [("method", "/greeter.Greeter/SayHello"), ("code", "OK")];
    let other = [("method", "other"), ("code", "UNIMPLEMENTED")];
    let streamed = [("method", "/greeter.Greeter/Greetings"), ("code", "OK")];
    let deadline = Instant::now() + HANG;
    let scraped = loop {
        let scraped = scrape(metrics_port);
        if sum(&scraped, CALLS, &hello) == 3.0
            && sum(&scraped, CALLS, &other) == 1.0
            && sum(&scraped, CALLS, &streamed) == 1.0
        {
            break scraped;
        }
        let calls: Vec<&Sample> = scraped.iter().filter(|s| s.name == CALLS).collect();
        assert!(Instant::now() < deadline, "never the calls made: {calls:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let calls: Vec<&Sample> = scraped.iter().filter(|s| s.name == CALLS).collect();
    // Nothing else: the made-up path is no label, and each sample is a worker's.
    assert_eq!(calls.iter().map(|s| s.value).sum::<f64>(), 5.0, "{calls:?}");
    for sample in &calls {
        assert_eq!(sample.labels["service"], "grpc", "{sample:?}");
        assert!(
            ["0", "1"].contains(&sample.labels["worker"].as_str()),
            "{sample:?}"
        );
    }
    let took = "oslo_grpc_request_duration_seconds_count";
    let say_hello = [("method", "/greeter.Greeter/SayHello")];
    assert_eq!(sum(&scraped, took, &say_hello), 3.0);
    assert_eq!(sum(&scraped, took, &[("method", "other")]), 1.0);
    // The calls are HTTP/2 requests too.
    assert!(sum(&scraped, "oslo_http_requests_total", &[("method", "POST")]) >= 5.0);
}
