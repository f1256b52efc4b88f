//! gRPC through the HTTP server, driven through the `grpc` example as real processes,
//! with Python's grpcio as the client (tests/support/grpc_client.py, which compiles
//! examples/proto/greeter.proto with grpcio-tools) and grpcio-health-checking for the
//! standard health service: unary and server-streaming calls in worker processes, the
//! health status following the process, a stream in flight finishing through a
//! SIGTERM's drain, and a SIGHUP reload under a loop of calls losing none.

mod support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Instant;

use support::{HANG, Service, Signal, exit_code, python};

const GRPC: &str = env!("CARGO_BIN_EXE_grpc");

fn start(workers: usize) -> (Service, u16) {
    let config = format!(
        "[DEFAULT]\ngraceful_shutdown_timeout = 60\n[grpc]\nport = 0\nworkers = {workers}\n"
    );
    support::start_listening(GRPC, &config)
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

#[test]
fn a_sighup_reload_under_a_loop_of_calls_loses_none() {
    let (service, port) = start(2);
    let mut client = Client::connect(port);
    let old: Vec<String> = support::children_of(service.pid())
        .iter()
        .map(u32::to_string)
        .collect();
    assert_eq!(old.len(), 2, "{old:?}");
    client.send(&format!("loop {}", old.join(",")));
    let looping = client.event();
    assert_eq!(looping["looping"], true, "{looping}");

    service.signal(Signal::HUP);
    service.expect_notify("RELOADING=1");
    service.expect_notify("READY=1");
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
    // The old generation is gone; the new one answers health as SERVING.
    assert_eq!(client.health("-")["health"], "SERVING");
}
