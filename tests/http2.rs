//! HTTP/2 through the HTTP server, driven through the `api` example as real processes:
//! curl as the oracle for the protocol (prior knowledge on cleartext, ALPN on TLS, and
//! HTTP/1.1 beside both on the same port), Python's `h2` for a stream in flight across a
//! stop, an upgrade and a worker's recycling (each stream its own request), and for
//! hostile clients (rapid reset, CONTINUATION, PING and SETTINGS floods, a body that
//! never comes, a header block that trickles).

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

use support::tls::{Authority, write};
use support::{Service, Signal, Successor, exit_code, is_alive, python, wait_until};

const API: &str = env!("CARGO_BIN_EXE_api");

/// GOAWAY's and RST_STREAM's codes (RFC 9113, 7).
const NO_ERROR: u64 = 0;
const ENHANCE_YOUR_CALM: u64 = 11;

fn start(default: &str, workers: usize, ssl: &str) -> (Service, u16) {
    let config = format!(
        "[DEFAULT]\n{default}\n[api]\nport = 0\nworkers = {workers}\ndebug_routes = true\n\n[ssl]\n{ssl}\n"
    );
    support::start_listening(API, &config)
}

/// curl's answer: the HTTP version it spoke (`%{http_version}`: 2, 1.1) and the body;
/// `Err` with curl's error when it got no answer.
fn curl(args: &[&str], url: &str) -> Result<(String, String), String> {
    let output = Command::new("curl")
        .args(["-sS", "--max-time", "30", "-w", "\n%{http_version}"])
        .args(args)
        .arg(url)
        .output()
        .expect("run curl");
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, version) = text.rsplit_once('\n').unwrap();
    Ok((version.to_owned(), body.to_owned()))
}

/// TLS files for `[ssl]`, and the authority's certificate for curl's `--cacert`.
fn tls_files(dir: &Path) -> (String, String) {
    let authority = Authority::new("test CA");
    let server = authority.issue("api server");
    let cert = write(dir, "server.pem", &server.cert_pem);
    let key = write(dir, "server.key", &server.key_pem);
    let ca = write(dir, "ca.pem", &authority.pem());
    (
        format!(
            "cert_file = {}\nkey_file = {}\n",
            cert.display(),
            key.display()
        ),
        ca.display().to_string(),
    )
}

/// A Python `h2` client running one scenario (tests/support/h2client.py), its events
/// read one JSON line at a time; the script bounds each of its waits.
struct H2Client {
    child: Child,
    events: BufReader<ChildStdout>,
}

impl H2Client {
    fn run(port: u16, scenario: &str, argument: &str) -> H2Client {
        let venv = python::venv_with("h2", |venv| python::imports(venv, "h2.connection"));
        let mut child = Command::new(venv.join("bin/python"))
            .arg(format!(
                "{}/tests/support/h2client.py",
                env!("CARGO_MANIFEST_DIR")
            ))
            .args([&port.to_string(), scenario, argument])
            .stdout(Stdio::piped())
            .spawn()
            .expect("run the h2 client");
        let events = BufReader::new(child.stdout.take().unwrap());
        H2Client { child, events }
    }

    /// The next event; `None` once the client has ended.
    fn event(&mut self) -> Option<serde_json::Value> {
        let mut line = String::new();
        match self.events.read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(serde_json::from_str(&line).expect("a JSON event")),
        }
    }

    /// Every event left, until the client ends.
    fn rest(&mut self) -> Vec<serde_json::Value> {
        std::iter::from_fn(|| self.event()).collect()
    }
}

impl Drop for H2Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn named<'a>(events: &'a [serde_json::Value], name: &str) -> Vec<&'a serde_json::Value> {
    events
        .iter()
        .filter(|event| event["event"] == name)
        .collect()
}

/// The server still answers other clients, over HTTP/2 and HTTP/1.1.
fn still_serves(port: u16) {
    let url = format!("http://127.0.0.1:{port}/v1/whoami");
    let (version, _) = curl(&["--http2-prior-knowledge"], &url).unwrap();
    assert_eq!(version, "2");
    let (version, _) = curl(&["--http1.1"], &url).unwrap();
    assert_eq!(version, "1.1");
}

#[test]
fn prior_knowledge_and_http1_share_a_port_and_each_stream_is_logged() {
    let (service, port) = start("", 2, "");
    let url = format!("http://127.0.0.1:{port}/v1/whoami");
    let (version, body) = curl(&["--http2-prior-knowledge"], &url).unwrap();
    assert_eq!(version, "2", "{body}");
    assert!(body.contains("\"pid\""), "{body}");
    let (version, _) = curl(&["--http1.1"], &url).unwrap();
    assert_eq!(version, "1.1");
    // Each stream has its line, in the worker's span, the path shown as an HTTP/1.1
    // request line shows it.
    let events = H2Client::run(port, "request", "/").rest();
    assert_eq!(named(&events, "ended").len(), 1, "{events:?}");
    service.wait_log_line(&[
        "worker{service=api worker=",
        "127.0.0.1 \"GET /v1/whoami HTTP/2.0\" status: 200  len: ",
    ]);
    service.wait_log_line(&["127.0.0.1 \"GET / HTTP/2.0\" status: 200  len: 83 "]);
}

#[test]
fn tls_negotiates_h2_by_alpn_and_http1_still_works() {
    let dir = tempfile::tempdir().unwrap();
    let (ssl, ca) = tls_files(dir.path());
    let (_service, port) = start("", 1, &ssl);
    let url = format!("https://localhost:{port}/v1/whoami");
    let (version, body) = curl(&["--http2", "--cacert", &ca], &url).unwrap();
    assert_eq!(version, "2", "{body}");
    let (version, _) = curl(&["--http1.1", "--cacert", &ca], &url).unwrap();
    assert_eq!(version, "1.1");
}

#[test]
fn with_wsgi_http2_false_prior_knowledge_is_refused_and_alpn_offers_http1_only() {
    let (_service, port) = start("wsgi_http2 = false", 1, "");
    let url = format!("http://127.0.0.1:{port}/v1/whoami");
    let refused = curl(&["--http2-prior-knowledge"], &url);
    assert!(refused.is_err(), "{refused:?}");
    let (version, _) = curl(&["--http1.1"], &url).unwrap();
    assert_eq!(version, "1.1");

    let dir = tempfile::tempdir().unwrap();
    let (ssl, ca) = tls_files(dir.path());
    let (_service, port) = start("wsgi_http2 = false", 1, &ssl);
    let url = format!("https://localhost:{port}/v1/whoami");
    let (version, _) = curl(&["--http2", "--cacert", &ca], &url).unwrap();
    assert_eq!(version, "1.1");
}

/// A slow request on one stream when the stop comes: GOAWAY at once (no new stream),
/// its full answer, then the connection closes.
fn answered_after_goaway(client: &mut H2Client) {
    let events = client.rest();
    let ended = named(&events, "ended");
    assert_eq!(ended.len(), 1, "{events:?}");
    assert_eq!(ended[0]["body"], "slept 3000 ms\n", "{events:?}");
    let goaway = named(&events, "goaway");
    assert!(!goaway.is_empty(), "{events:?}");
    assert!(goaway.iter().all(|g| g["code"] == NO_ERROR), "{events:?}");
    let order: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    let told = order.iter().position(|e| *e == "goaway").unwrap();
    let answered = order.iter().position(|e| *e == "ended").unwrap();
    assert!(told < answered, "{order:?}");
    assert_eq!(order.last(), Some(&"closed"), "{order:?}");
}

#[test]
fn a_reload_and_sigterm_send_goaway_and_let_a_stream_in_flight_finish() {
    let (mut service, port) = start("graceful_shutdown_timeout = 30", 1, "");
    let mut client = H2Client::run(port, "request", "/debug/sleep/3000");
    assert_eq!(client.event().unwrap()["event"], "sent");
    service.wait_log("sleep started");
    service.signal(Signal::HUP);
    service.expect_notify("RELOADING=1");
    answered_after_goaway(&mut client);
    service.expect_notify("READY=1");
    // The new generation serves HTTP/2: no request fails.
    for _ in 0..5 {
        still_serves(port);
    }

    let mut client = H2Client::run(port, "request", "/debug/sleep/3000");
    assert_eq!(client.event().unwrap()["event"], "sent");
    service.wait_for_log("sleep started", 2);
    service.signal(Signal::TERM);
    answered_after_goaway(&mut client);
    assert_eq!(exit_code(service.wait_exit()), 0, "{}", service.log());
}

#[test]
fn a_sigusr2_upgrade_sends_goaway_and_lets_http2_streams_in_flight_finish() {
    // In process, and in worker processes.
    for workers in [1, 2] {
        let (mut service, port) = start("graceful_shutdown_timeout = 30", workers, "");
        let mut client = H2Client::run(port, "request", "/debug/sleep/3000");
        assert_eq!(client.event().unwrap()["event"], "sent");
        service.wait_log("sleep started");
        service.signal(Signal::USR2);
        let successor = Successor::named_in(&service.expect_notify("MAINPID="));
        assert_ne!(successor.0, service.pid());
        service.expect_notify("READY=1");
        answered_after_goaway(&mut client);
        // The predecessor is gone once its stream is answered, and the successor
        // serves HTTP/2 and HTTP/1.1 on the same port.
        assert_eq!(exit_code(service.wait_exit()), 0, "{}", service.log());
        for _ in 0..5 {
            still_serves(port);
        }
        successor.terminate();
        wait_until("the successor's exit", || !is_alive(successor.0));
    }
}

/// The pid a `/v1/whoami` answer names.
fn pid_of(body: &str) -> u32 {
    let answer: serde_json::Value = serde_json::from_str(body).expect("a JSON answer");
    answer["pid"].as_u64().expect("a pid") as u32
}

#[test]
fn max_requests_counts_streams_and_a_recycled_worker_lets_its_streams_finish() {
    // One worker alone runs in process, where max_requests does not apply: two, and
    // every stream goes to the one worker that accepted the connection.
    let (service, port) = start("graceful_shutdown_timeout = 30\nmax_requests = 4", 2, "");
    let before = service.children();
    assert_eq!(before.len(), 2, "{before:?}");
    // Nothing else was asked of the server: these four streams alone are its limit.
    let mut client = H2Client::run(
        port,
        "request",
        "/v1/whoami,/v1/whoami,/debug/sleep/3000,/debug/sleep/3000",
    );
    let events = client.rest();
    let ended = named(&events, "ended");
    assert_eq!(ended.len(), 4, "{events:?}\n{}", service.log());
    let body = |stream: u64| {
        ended
            .iter()
            .find(|e| e["stream"] == stream)
            .and_then(|e| e["body"].as_str())
            .unwrap_or_else(|| panic!("no answer on stream {stream}: {events:?}"))
    };
    let recycled = pid_of(body(1));
    assert_eq!(pid_of(body(3)), recycled, "{events:?}");
    assert_eq!(body(5), "slept 3000 ms\n", "{events:?}");
    assert_eq!(body(7), "slept 3000 ms\n", "{events:?}");
    service.wait_log_line(&[
        "recycling worker",
        &format!("pid={recycled}"),
        "reason=max_requests",
    ]);
    // Told to go away while the slow streams were in flight, then closed once they
    // were answered.
    let goaway = named(&events, "goaway");
    assert!(!goaway.is_empty(), "{events:?}");
    assert!(goaway.iter().all(|g| g["code"] == NO_ERROR), "{events:?}");
    let told = events.iter().position(|e| e["event"] == "goaway").unwrap();
    let slept = events
        .iter()
        .position(|e| e["event"] == "ended" && e["stream"] == 5)
        .unwrap();
    assert!(told < slept, "{events:?}");
    assert_eq!(events.last().unwrap()["event"], "closed", "{events:?}");
    // The old worker is gone, and a new one serves.
    wait_until("the recycled worker's exit", || !is_alive(recycled));
    let url = format!("http://127.0.0.1:{port}/v1/whoami");
    wait_until("an answer from the new worker", || {
        let (version, body) = curl(&["--http2-prior-knowledge"], &url).unwrap();
        assert_eq!(version, "2");
        let pid = pid_of(&body);
        assert_ne!(pid, recycled);
        !before.contains(&pid)
    });
}

#[test]
fn rapid_reset_and_continuation_floods_get_goaway_and_others_are_served() {
    let (service, port) = start("", 1, "");
    // CVE-2023-44487: streams opened and reset at once.
    let events = H2Client::run(port, "rapid_reset", "1000").rest();
    let goaway = named(&events, "goaway");
    assert_eq!(goaway.len(), 1, "{events:?}");
    assert_eq!(goaway[0]["code"], ENHANCE_YOUR_CALM, "{events:?}");
    assert!(
        goaway[0]["last_stream"].as_u64().unwrap() < 200,
        "{events:?}"
    );
    still_serves(port);

    // A header block that never ends.
    let events = H2Client::run(port, "continuation", "20000").rest();
    let goaway = named(&events, "goaway");
    assert_eq!(goaway.len(), 1, "{events:?}");
    assert_eq!(goaway[0]["code"], ENHANCE_YOUR_CALM, "{events:?}");
    assert!(named(&events, "response").is_empty(), "{events:?}");
    still_serves(port);
    drop(service);
}

#[test]
fn ping_and_settings_floods_read_or_not_are_cut_past_their_budget_and_others_are_served() {
    let (service, port) = start("", 1, "");
    for (count, scenario) in ["ping_flood", "settings_flood", "settings_flood_read"]
        .iter()
        .enumerate()
    {
        let mut flood = H2Client::run(port, scenario, "100000000");
        // While the flood is on, others are served.
        still_serves(port);
        let events = flood.rest();
        assert!(
            !named(&events, "closed").is_empty(),
            "{scenario}: {events:?}"
        );
        service.wait_log_line(&[
            "client connection cut",
            "cause=\"control_flood\"",
            &format!("count={}", count + 1),
        ]);
        still_serves(port);
    }
}

#[test]
fn a_header_block_that_trickles_is_cut_at_client_header_timeout_beside_a_stream_in_flight() {
    // The stream in flight keeps the connection out of its idle phase, and the
    // trickle sends a frame every 0.2 s: only the header block's own deadline ends it.
    let (service, port) = start(
        "client_header_timeout = 2\ngraceful_shutdown_timeout = 60",
        1,
        "",
    );
    let mut client = H2Client::run(port, "slow_header_block", "/debug/sleep/60000");
    assert_eq!(client.event().unwrap()["event"], "sent");
    assert_eq!(client.event().unwrap()["event"], "block_opened");
    let events = client.rest();
    let closed = named(&events, "closed");
    assert_eq!(closed.len(), 1, "{events:?}");
    assert!(closed[0]["frames"].as_u64().unwrap() > 3, "{events:?}");
    service.wait_log_line(&["client connection cut", "cause=\"slow_head\""]);
    still_serves(port);
}

#[test]
fn a_stream_whose_body_never_comes_holds_neither_the_pool_nor_a_stop() {
    // With no minimum rate and a long socket timeout, only the stop could end it.
    let (mut service, port) = start(
        "wsgi_default_pool_size = 1\nclient_body_min_rate = 0\nclient_socket_timeout = 600\ngraceful_shutdown_timeout = 60",
        1,
        "",
    );
    let mut stalled = H2Client::run(port, "stalled_body", "/debug/upload");
    assert_eq!(stalled.event().unwrap()["event"], "sent");
    // The pool's one turn is free for others.
    still_serves(port);
    service.signal(Signal::TERM);
    // Well within graceful_shutdown_timeout (past it the exit status is 1).
    assert_eq!(exit_code(service.wait_exit()), 0, "{}", service.log());
    let events = stalled.rest();
    assert!(named(&events, "ended").is_empty(), "{events:?}");

    // With the minimum rate, the body deadline cuts it.
    let (service, port) = start("client_header_timeout = 1", 1, "");
    let events = H2Client::run(port, "stalled_body", "/debug/upload").rest();
    let response = named(&events, "response");
    assert_eq!(response.len(), 1, "{events:?}");
    assert_eq!(response[0]["status"], 400, "{events:?}");
    service.wait_log_line(&["client connection cut", "cause=\"slow_body\""]);
}
