//! The health probes of `[health]` through real processes: `hello` (no HTTP server)
//! answers all three on TCP and on a UNIX socket; the `api` example in 2 workers fails
//! readiness while its maintenance check fails and while it drains, and its liveness
//! holds throughout.

mod support;

use std::process::Command;

use support::http::Connection;
use support::{HANG, Service, Signal, Stdout, exit_code};

const HELLO: &str = env!("CARGO_BIN_EXE_hello");
const API: &str = env!("CARGO_BIN_EXE_api");

/// The port the probes are answered on, from the line where the launcher says so.
fn health_port(service: &Service) -> u16 {
    service.wait_log("serving health probes at http://127.0.0.1:");
    let log = service.log();
    let (_, rest) = log
        .split_once("serving health probes at http://127.0.0.1:")
        .unwrap();
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap()
}

/// A probe's HTTP status and its report.
fn probe(port: u16, path: &str) -> (u16, serde_json::Value) {
    let answer = Connection::open(port)
        .and_then(|mut conn| conn.get(path, ""))
        .unwrap();
    assert_eq!(
        answer.header("content-type"),
        Some("application/health+json"),
        "{}",
        answer.text()
    );
    let report = serde_json::from_str(&answer.text()).unwrap();
    (answer.status, report)
}

/// The output of a report's check.
fn output<'a>(report: &'a serde_json::Value, check: &str) -> &'a str {
    report["checks"][check][0]["output"]
        .as_str()
        .unwrap_or_else(|| panic!("no {check} in {report}"))
}

#[test]
fn a_service_without_http_answers_its_probes_on_tcp_and_on_a_unix_socket() {
    let config = "[health]\nenabled = true\nport = 0\n";
    let mut service = Service::start(HELLO, config, Stdout::Null);
    service.expect_notify("READY=1");
    let port = health_port(&service);
    for (path, check, said) in [
        ("/health/startup", "launcher:startup", "ready, now running"),
        (
            "/health/live",
            "launcher:liveness",
            "running, this process answers",
        ),
        ("/health/ready", "launcher:readiness", "running"),
    ] {
        let (status, report) = probe(port, path);
        assert_eq!(status, 200, "{report}");
        assert_eq!(report["status"], "pass", "{report}");
        assert_eq!(output(&report, check), said, "{report}");
        assert_eq!(report["checks"][check][0]["status"], "pass", "{report}");
    }
    let missing = Connection::open(port)
        .and_then(|mut conn| conn.get("/health", ""))
        .unwrap();
    assert_eq!(missing.status, 404);
    service.signal(Signal::TERM);
    assert_eq!(exit_code(service.wait_exit()), 0, "{}", service.log());

    // The same over a UNIX socket, with curl.
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("health.sock");
    let config = format!(
        "[health]\nenabled = true\nunix_socket = {}\n",
        socket.display()
    );
    let service = Service::start(HELLO, &config, Stdout::Null);
    service.expect_notify("READY=1");
    let output = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "30",
            "-w",
            "\n%{http_code}",
            "--unix-socket",
        ])
        .arg(&socket)
        .arg("http://localhost/health/ready")
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.ends_with("\n200"), "{text}");
    assert!(text.contains("\"status\":\"pass\""), "{text}");
    let mode = std::fs::metadata(&socket).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600
    );
}

#[test]
fn readiness_fails_in_maintenance_and_while_draining_and_liveness_holds() {
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("maintenance");
    let config = format!(
        "[DEFAULT]\ngraceful_shutdown_timeout = 30\n[api]\nport = 0\nworkers = 2\n\
         debug_routes = true\nmaintenance_file = {}\n[health]\nenabled = true\nport = 0\n",
        flag.display()
    );
    // Started once READY=1 came.
    let (mut service, api_port) = support::start_listening(API, &config);
    let port = health_port(&service);
    let (status, report) = probe(port, "/health/ready");
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        output(&report, "launcher:readiness"),
        "running, 2 of 2 workers ready"
    );
    assert_eq!(output(&report, "maintenance:check"), "ok");
    let (status, report) = probe(port, "/health/live");
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        output(&report, "launcher:liveness"),
        "running, 2 workers alive, 0 hung"
    );

    // The service's own check fails readiness, never liveness.
    std::fs::write(&flag, "").unwrap();
    let (status, report) = probe(port, "/health/ready");
    assert_eq!(status, 503, "{report}");
    assert_eq!(report["status"], "fail", "{report}");
    assert_eq!(report["checks"]["maintenance:check"][0]["status"], "fail");
    assert_eq!(
        output(&report, "maintenance:check"),
        format!("{} exists", flag.display())
    );
    assert_eq!(probe(port, "/health/live").0, 200);
    std::fs::remove_file(&flag).unwrap();
    assert_eq!(probe(port, "/health/ready").0, 200);

    // Draining: a request in flight holds the stop; readiness fails, liveness holds.
    let mut slow = Connection::open(api_port).unwrap();
    slow.send(b"GET /debug/sleep/5000 HTTP/1.1\r\nHost: test\r\n\r\n")
        .unwrap();
    service.wait_log("sleep started");
    service.signal(Signal::TERM);
    service.wait_log("caught signal, stopping workers");
    let (status, report) = probe(port, "/health/ready");
    assert_eq!(status, 503, "{report}");
    assert_eq!(output(&report, "launcher:readiness"), "stopping");
    let (status, report) = probe(port, "/health/live");
    assert_eq!(status, 200, "{report}");
    let (status, _) = probe(port, "/health/startup");
    assert_eq!(status, 200);
    slow.set_read_timeout(HANG);
    assert_eq!(slow.read_response().unwrap().status, 200);
    assert_eq!(exit_code(service.wait_exit()), 0, "{}", service.log());
}

#[test]
fn after_an_upgrade_only_the_successor_answers_the_probes() {
    // In process, and with workers: the predecessor drains a slow request meanwhile.
    for workers in [1, 2] {
        let config = format!(
            "[DEFAULT]\ngraceful_shutdown_timeout = 30\n[api]\nport = 0\nworkers = {workers}\n\
             debug_routes = true\n[health]\nenabled = true\nport = 0\n"
        );
        let (mut service, api_port) = support::start_listening(API, &config);
        let port = health_port(&service);
        let mut slow = Connection::open(api_port).unwrap();
        slow.send(b"GET /debug/sleep/4000 HTTP/1.1\r\nHost: test\r\n\r\n")
            .unwrap();
        service.wait_log("sleep started");
        service.signal(Signal::USR2);
        let successor = support::Successor::named_in(&service.expect_notify("MAINPID="));
        service.expect_notify("READY=1");
        service.wait_log("the new executable is ready");
        // The predecessor drains its request for seconds: no probe reaches it.
        let mut answers = Vec::new();
        while support::is_alive(service.pid()) && answers.len() < 200 {
            let (status, report) = probe(port, "/health/ready");
            answers.push((
                status,
                report["checks"]["launcher:readiness"][0]["output"].clone(),
            ));
        }
        assert!(
            answers.iter().all(|(status, _)| *status == 200),
            "workers = {workers}: {answers:?}"
        );
        slow.set_read_timeout(HANG);
        assert_eq!(slow.read_response().unwrap().status, 200);
        assert_eq!(exit_code(service.wait_exit()), 0, "{}", service.log());
        successor.terminate();
        support::wait_until("the successor's exit", || !support::is_alive(successor.0));
    }
}
