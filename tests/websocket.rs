//! WebSockets through the HTTP server, driven through the `api` example's `GET
//! /v1/echo` as real processes, with Python's `websockets` as the client: the upgrade,
//! the echo, what a stop, a reload, an upgrade or a recycled worker does to an open
//! WebSocket (a Close frame with 1001, going away, and a clean exit), and its place
//! under `wsgi_max_connections`.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use support::http::Connection;
use support::{HANG, Service, Signal, Successor, exit_code, python};

const API: &str = env!("CARGO_BIN_EXE_api");

/// Close code 1001: the server is going away.
const GOING_AWAY: u64 = 1001;

fn start(default: &str, workers: usize) -> (Service, u16) {
    let config = format!("[DEFAULT]\n{default}\n[api]\nport = 0\nworkers = {workers}\n");
    support::start_listening(API, &config)
}

/// A `websockets` client in its own process (tests/support/websocket.py), one command
/// and one answer at a time; the script bounds each wait, so none hangs here.
struct Client {
    child: Child,
    commands: ChildStdin,
    events: BufReader<ChildStdout>,
}

impl Client {
    /// Connects to `path`; `Err` carries the client's reason when the handshake fails.
    fn connect(port: u16, path: &str) -> Result<Client, String> {
        let venv = python::venv_with("websockets", |venv| {
            python::imports(venv, "websockets.sync.client")
        });
        let mut child = Command::new(venv.join("bin/python"))
            .arg(format!(
                "{}/tests/support/websocket.py",
                env!("CARGO_MANIFEST_DIR")
            ))
            .arg(format!("ws://127.0.0.1:{port}{path}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run the websockets client");
        let commands = child.stdin.take().unwrap();
        let events = BufReader::new(child.stdout.take().unwrap());
        let mut client = Client {
            child,
            commands,
            events,
        };
        let opened = client.event();
        match opened.get("refused") {
            Some(reason) => Err(reason.to_string()),
            None => {
                assert_eq!(opened["open"], true, "{opened}");
                Ok(client)
            }
        }
    }

    fn event(&mut self) -> serde_json::Value {
        let mut line = String::new();
        self.events
            .read_line(&mut line)
            .expect("the client's output");
        assert!(!line.is_empty(), "the client ended without a word");
        serde_json::from_str(&line).unwrap_or_else(|err| panic!("{err}: {line}"))
    }

    /// Sends `text`, returns the answer.
    fn echo(&mut self, text: &str) -> String {
        writeln!(self.commands, "send {text}").unwrap();
        let answer = self.event();
        answer["echo"]
            .as_str()
            .unwrap_or_else(|| panic!("no echo: {answer}"))
            .to_owned()
    }

    /// Waits for the server to close; returns its close code and reason.
    fn closed(&mut self) -> (u64, String) {
        writeln!(self.commands, "close").unwrap();
        let closed = self.event();
        let code = closed["closed"]
            .as_u64()
            .unwrap_or_else(|| panic!("not closed with a code: {closed}"));
        let reason = closed["reason"].as_str().unwrap_or_default().to_owned();
        (code, reason)
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_websocket_echoes_text_frames_and_a_plain_route_answers_an_upgrade_request() {
    let (_service, port) = start("", 2);
    let mut client = Client::connect(port, "/v1/echo").unwrap();
    for text in ["hello", "a second frame", "ünïcödé ✓", &"x".repeat(70_000)] {
        assert_eq!(client.echo(text), text);
    }
    // Two WebSockets at once, each its own.
    let mut other = Client::connect(port, "/v1/echo").unwrap();
    assert_eq!(other.echo("other"), "other");
    assert_eq!(client.echo("first again"), "first again");

    // A route that is no WebSocket answers an upgrade request as any other, and the
    // connection goes on with HTTP/1.1.
    let mut plain = Connection::open(port).unwrap();
    let upgrade = "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    let answer = plain.get("/", upgrade).unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(answer.text().contains("CURRENT"), "{}", answer.text());
    assert_eq!(plain.get("/v1/whoami", "").unwrap().status, 200);
    let refused = Client::connect(port, "/")
        .err()
        .expect("a refused handshake");
    assert!(refused.contains("200"), "{refused}");
}

#[test]
fn sigterm_closes_an_open_websocket_with_going_away_and_exits_0() {
    let (mut service, port) = start("graceful_shutdown_timeout = 30", 2);
    let mut client = Client::connect(port, "/v1/echo").unwrap();
    assert_eq!(client.echo("before the stop"), "before the stop");
    service.signal(Signal::TERM);
    let (code, reason) = client.closed();
    assert_eq!(code, GOING_AWAY, "{reason}");
    // Within graceful_shutdown_timeout: past it, the exit status is 1.
    assert_eq!(exit_code(service.wait_exit()), 0, "{}", service.log());
}

#[test]
fn a_reload_closes_open_websockets_with_going_away_and_new_ones_open() {
    let (service, port) = start("graceful_shutdown_timeout = 30", 2);
    let mut clients: Vec<Client> = (0..3)
        .map(|_| Client::connect(port, "/v1/echo").unwrap())
        .collect();
    for (index, client) in clients.iter_mut().enumerate() {
        let text = format!("client {index}");
        assert_eq!(client.echo(&text), text);
    }
    service.signal(Signal::HUP);
    service.expect_notify("RELOADING=1");
    for client in &mut clients {
        let (code, reason) = client.closed();
        assert_eq!(code, GOING_AWAY, "{reason}");
    }
    service.expect_notify("READY=1");
    // The new generation takes WebSockets: no handshake fails.
    for index in 0..5 {
        let mut client = Client::connect(port, "/v1/echo")
            .unwrap_or_else(|reason| panic!("handshake {index} after the reload: {reason}"));
        let text = format!("after the reload {index}");
        assert_eq!(client.echo(&text), text);
    }
    drop(service);
}

#[test]
fn a_sigusr2_upgrade_closes_open_websockets_with_going_away_and_the_successor_takes_new_ones() {
    let (mut service, port) = start("graceful_shutdown_timeout = 30", 2);
    let mut client = Client::connect(port, "/v1/echo").unwrap();
    assert_eq!(client.echo("before"), "before");
    service.signal(Signal::USR2);
    let successor = Successor::named_in(&service.expect_notify("MAINPID="));
    assert_ne!(successor.0, service.pid());
    let (code, reason) = client.closed();
    assert_eq!(code, GOING_AWAY, "{reason}");
    // The predecessor exits cleanly once its WebSocket is closed; the successor, on the
    // same port, takes WebSockets.
    assert_eq!(exit_code(service.wait_exit()), 0, "{}", service.log());
    let mut client = Client::connect(port, "/v1/echo")
        .unwrap_or_else(|reason| panic!("handshake after the upgrade: {reason}"));
    assert_eq!(client.echo("after"), "after");
    drop(client);
    successor.terminate();
    support::wait_until("the successor's exit", || !support::is_alive(successor.0));
}

#[test]
fn a_worker_recycled_at_max_requests_closes_its_websocket_with_going_away() {
    let (service, port) = start("graceful_shutdown_timeout = 30\nmax_requests = 1", 2);
    // The handshake is its worker's one request: the worker is replaced, new before old,
    // and the old one's WebSocket is told.
    let mut client = Client::connect(port, "/v1/echo").unwrap();
    let (code, reason) = client.closed();
    assert_eq!(code, GOING_AWAY, "{reason}");
    service.wait_log_line(&["recycling worker", "reason=max_requests"]);
}

#[test]
fn open_websockets_count_against_wsgi_max_connections_and_are_never_closed_for_room() {
    let (service, port) = start("wsgi_max_connections = 3", 1);
    // Two places of three taken by open WebSockets. (That one is never the one to make
    // way, whatever bytes it sent, is the unit test `wsgi::clients`'s; here the whole
    // server shows they count and stay.) Three places, not two: at the limit with
    // nothing to evict, a newcomer waits in the backlog, and the idle connection below
    // would too.
    let mut first = Client::connect(port, "/v1/echo").unwrap();
    let mut second = Client::connect(port, "/v1/echo").unwrap();
    // The third place, idle once answered: the one connection that may make way.
    let mut idle = Connection::open(port).unwrap();
    assert_eq!(idle.get("/", "").unwrap().status, 200);
    // Over the limit: someone must go for the newcomer.
    let mut newcomer = Connection::open(port).unwrap();
    let answer = newcomer
        .get("/", "")
        .unwrap_or_else(|err| panic!("the newcomer: {err}\n{}", service.log()));
    assert_eq!(answer.status, 200);
    // The WebSockets counted (else there was room, and nobody went), and stayed.
    assert!(idle.closed_within(HANG));
    service.wait_log_line(&["client connection cut", "cause=\"evicted\""]);
    assert_eq!(first.echo("still one"), "still one");
    assert_eq!(second.echo("still two"), "still two");
}

#[test]
fn a_silent_websocket_outlives_the_idle_and_header_timeouts() {
    let (service, port) = start("client_socket_timeout = 1\nclient_header_timeout = 1", 1);
    let mut socket = Client::connect(port, "/v1/echo").unwrap();
    // Opened after the WebSocket and as silent: its cut is past the WebSocket's own
    // deadline, had it one.
    let mut silent = Connection::open(port).unwrap();
    assert!(silent.closed_within(HANG));
    service.wait_log_line(&["client connection cut", "cause=\"idle\""]);
    assert_eq!(socket.echo("still here"), "still here");
}
