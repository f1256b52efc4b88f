//! The HTTP server, driven through the `api` example as real processes: its JSON API
//! from worker processes on one port, each wsgi option, graceful stop, and reloads
//! under load that fail no request.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use support::http::{Connection, get};
use support::load::Load;
use support::{HANG, Service, Signal, Stdout, exit_code};

const API: &str = env!("CARGO_BIN_EXE_api");

fn config(default: &str, workers: usize) -> String {
    format!("[DEFAULT]\n{default}\n[api]\nport = 0\nworkers = {workers}\ndebug_routes = true\n")
}

/// Starts the example, waits for READY=1, and reads the port it logged.
fn start(default: &str, workers: usize) -> (Service, u16) {
    support::start_listening(API, &config(default, workers))
}

fn whoami_pid(port: u16) -> u32 {
    let answer = get(port, "/v1/whoami").unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text());
    let json: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    json["pid"].as_u64().unwrap() as u32
}

#[test]
fn worker_processes_serve_the_json_api_on_one_port_and_log_each_request() {
    let (service, port) = start("", 4);
    let versions = get(port, "/").unwrap();
    assert_eq!(versions.status, 200);
    assert_eq!(versions.header("content-type"), Some("application/json"));
    let json: serde_json::Value = serde_json::from_slice(&versions.body).unwrap();
    assert_eq!(json["versions"][0]["status"], "CURRENT");

    let workers: BTreeSet<u32> = service.children().into_iter().collect();
    assert_eq!(workers.len(), 4);
    for _ in 0..20 {
        let pid = whoami_pid(port);
        assert!(
            workers.contains(&pid),
            "pid {pid} is none of the workers {workers:?}"
        );
    }

    let mut client = Connection::open(port).unwrap();
    let body = r#"{"name":"web-1"}"#;
    client
        .send(
            format!(
                "POST /v1/servers HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .unwrap();
    let created = client.read_response().unwrap();
    assert_eq!(created.status, 201);
    let json: serde_json::Value = serde_json::from_slice(&created.body).unwrap();
    assert_eq!(json["server"]["name"], "web-1");

    // oslo's default wsgi_log_format, two spaces before len:, in the worker's span like
    // every line a worker writes.
    service.wait_log_line(&[
        "worker{service=api worker=",
        "127.0.0.1 \"POST /v1/servers HTTP/1.1\" status: 201  len: 51 time: 0.",
    ]);
    service.wait_log_line(&["127.0.0.1 \"GET / HTTP/1.1\" status: 200  len: 83 time: "]);
}

#[test]
fn the_pool_bounds_requests_being_served_not_connections() {
    let (service, port) = start("wsgi_default_pool_size = 2", 1);
    // Idle keep-alive connections hold no turn in the pool.
    let mut idle: Vec<Connection> = (0..5).map(|_| Connection::open(port).unwrap()).collect();
    for connection in &mut idle {
        assert_eq!(connection.get("/", "").unwrap().status, 200);
    }
    assert_eq!(get(port, "/").unwrap().status, 200);

    // Two requests being served fill it: a third waits for a turn, then is served.
    let mut slow: Vec<Connection> = (0..2).map(|_| Connection::open(port).unwrap()).collect();
    for connection in &mut slow {
        connection
            .send(b"GET /debug/sleep/1500 HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
    }
    service.wait_for_log("sleep started", 2);
    let mut third = Connection::open(port).unwrap();
    third.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    third.set_read_timeout(Duration::from_millis(500));
    let waiting = third.read_response().unwrap_err();
    assert!(
        matches!(
            waiting.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "{waiting}"
    );
    third.set_read_timeout(HANG);
    assert_eq!(third.read_response().unwrap().status, 200);
    for connection in &mut slow {
        assert_eq!(connection.read_response().unwrap().status, 200);
    }
}

#[test]
fn keep_alive_keeps_connections_unless_wsgi_keep_alive_is_false() {
    let (_kept, port) = start("", 1);
    let mut client = Connection::open(port).unwrap();
    for _ in 0..3 {
        let answer = client.get("/", "").unwrap();
        assert_eq!(answer.status, 200);
        assert!(!answer.closes());
    }

    let (_closing, port) = start("wsgi_keep_alive = false", 1);
    let mut client = Connection::open(port).unwrap();
    let answer = client.get("/", "").unwrap();
    assert_eq!(answer.status, 200);
    assert!(answer.closes(), "{:?}", answer.headers);
    assert!(client.closed_within(HANG));
}

#[test]
fn client_socket_timeout_cuts_silent_idle_slow_and_deaf_clients() {
    let (service, port) = start(
        "client_socket_timeout = 1\nclient_header_timeout = 1\ndebug = true",
        1,
    );
    let within = Duration::from_secs(20);

    let mut silent = Connection::open(port).unwrap();
    assert!(
        silent.closed_within(within),
        "a client that never sent was kept"
    );

    let mut idle = Connection::open(port).unwrap();
    assert_eq!(idle.get("/", "").unwrap().status, 200);
    assert!(
        idle.closed_within(within),
        "an idle keep-alive client was kept"
    );

    let mut half_head = Connection::open(port).unwrap();
    half_head.send(b"GET / HTTP/1.1\r\nHost: t\r\n").unwrap();
    assert!(
        half_head.closed_within(within),
        "a client slow to send its head was kept"
    );

    // Ten bytes of a hundred, then nothing: the application's read of the body fails.
    let mut slow_body = Connection::open(port).unwrap();
    slow_body
        .send(b"POST /debug/upload HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n0123456789")
        .unwrap();
    match slow_body.read_response() {
        Ok(answer) => assert!(answer.status >= 400, "{} {}", answer.status, answer.text()),
        Err(err) => assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof, "{err}"),
    }
    assert!(
        slow_body.closed_within(within),
        "a client slow to send its body was kept"
    );

    // A client that asks for 64 MiB and reads none of it: once the socket buffers are
    // full the server's write waits, and is cut after a second; what the client then
    // reads ends before the whole body.
    let mut deaf = Connection::open(port).unwrap();
    deaf.send(b"GET /debug/bytes/67108864 HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    service.wait_log_line(&[
        "client connection ended with an error",
        "did not read its response within client_socket_timeout",
    ]);
    service.wait_log_line(&["client connection cut", "cause=\"slow_reader\"", "count=1"]);
    let mut received = Vec::new();
    let ended = std::io::Read::read_to_end(&mut deaf.reader(), &mut received);
    assert!(
        ended.is_ok() || ended.as_ref().unwrap_err().kind() == std::io::ErrorKind::ConnectionReset,
        "{ended:?}"
    );
    assert!(received.len() < 64 << 20, "the whole body arrived");
    // The server lives on.
    assert_eq!(get(port, "/").unwrap().status, 200);
}

#[test]
fn a_header_line_over_max_header_line_gets_400_and_sighup_rereads_the_limit() {
    let (service, port) = start("max_header_line = 100", 1);
    let long = format!("X-Auth-Token: {}\r\n", "a".repeat(200));
    let short = format!("X-Auth-Token: {}\r\n", "a".repeat(80));

    let mut client = Connection::open(port).unwrap();
    let refused = client.get("/", &long).unwrap();
    assert_eq!(refused.status, 400);
    assert_eq!(refused.text(), "Header Line Too Long");
    assert!(refused.closes());
    assert!(client.closed_within(HANG));
    // The server lives on; a line within the limit passes.
    assert_eq!(
        Connection::open(port)
            .unwrap()
            .get("/", &short)
            .unwrap()
            .status,
        200
    );

    service.rewrite_config(&config("max_header_line = 1000", 1));
    service.signal(Signal::HUP);
    service.expect_notify("RELOADING=1");
    service.expect_notify("READY=1");
    assert_eq!(
        Connection::open(port)
            .unwrap()
            .get("/", &long)
            .unwrap()
            .status,
        200
    );
}

#[test]
fn wsgi_log_format_shapes_the_access_line_and_a_bad_one_stops_the_start() {
    let (service, port) = start(
        "wsgi_log_format = %(status_code)s|%(request_line)s|%(body_length)d|%(client_ip)s",
        1,
    );
    assert_eq!(get(port, "/v1/whoami").unwrap().status, 200);
    service.wait_log_line(&["200|GET /v1/whoami HTTP/1.1|", "|127.0.0.1"]);

    Service::expect_start_refused(
        API,
        &config("wsgi_log_format = %(client)s %(status)s", 1),
        "2: invalid value '%(client)s %(status)s' for option wsgi_log_format in group [DEFAULT]: unknown field 'client'",
    );
}

#[test]
fn a_500_carries_the_error_only_under_wsgi_server_debug() {
    let (quiet, port) = start("", 1);
    let answer = get(port, "/debug/panic").unwrap();
    assert_eq!(answer.status, 500);
    assert!(answer.body.is_empty(), "{}", answer.text());
    // The log has it either way, and the server lives on.
    quiet.wait_log_line(&["the application panicked", "the /debug/panic route"]);
    assert_eq!(get(port, "/").unwrap().status, 200);

    let (_debug, port) = start("wsgi_server_debug = true", 1);
    let answer = get(port, "/debug/panic").unwrap();
    assert_eq!(answer.status, 500);
    assert_eq!(answer.text(), "panic: the /debug/panic route");
}

#[test]
fn sigterm_finishes_requests_in_flight_closes_idle_connections_and_exits() {
    let (mut service, port) = start("graceful_shutdown_timeout = 30", 1);
    let mut idle = Connection::open(port).unwrap();
    assert_eq!(idle.get("/", "").unwrap().status, 200);
    let mut busy = Connection::open(port).unwrap();
    busy.send(b"GET /debug/sleep/1500 HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    service.wait_log_line(&["sleep started", "ms=1500"]);

    service.signal(Signal::TERM);
    let answer = busy.read_response().unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.text(), "slept 1500 ms\n");
    assert!(answer.closes(), "{:?}", answer.headers);
    assert!(busy.closed_within(HANG));
    assert!(idle.closed_within(HANG));
    assert_eq!(exit_code(service.wait_exit()), 0, "{}", service.log());
}

#[test]
fn graceful_shutdown_timeout_cuts_what_is_left() {
    let (mut service, port) = start("graceful_shutdown_timeout = 1", 1);
    // A client that reads none of its 64 MiB (client_socket_timeout is 900 s) and one
    // whose answer takes ten minutes.
    let mut deaf = Connection::open(port).unwrap();
    deaf.send(b"GET /debug/bytes/67108864 HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut busy = Connection::open(port).unwrap();
    busy.send(b"GET /debug/sleep/600000 HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    service.wait_log_line(&["sleep started"]);
    service.signal(Signal::TERM);
    assert_eq!(exit_code(service.wait_exit()), 1, "{}", service.log());
    assert!(service.log().contains("graceful shutdown timeout exceeded"));
    let mut received = Vec::new();
    let _ = std::io::Read::read_to_end(&mut deaf.reader(), &mut received);
    assert!(received.len() < 64 << 20, "the whole body arrived");
    let cut = busy.read_response().unwrap_err();
    assert!(
        matches!(
            cut.kind(),
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
        ),
        "{cut}"
    );
}

#[test]
fn five_reloads_under_keep_alive_load_fail_no_request() {
    let (service, port) = start("graceful_shutdown_timeout = 30", 2);
    let load = Load::start(port, 8);
    // Each generation answers some of the load before the next reload, or the end.
    let some_answers = || {
        let answered = load.answered();
        support::wait_until("answers", || load.answered() > answered + 50);
    };
    for _ in 0..5 {
        some_answers();
        service.signal(Signal::HUP);
        service.expect_notify("RELOADING=1");
        service.expect_notify("READY=1");
    }
    some_answers();
    let seen = load.finish();
    let answered = seen.answers.len();
    seen.assert_nothing_failed("");
    assert!(answered > 100, "only {answered} requests answered");
    // Six generations of two workers each answered.
    let pids: BTreeSet<u32> = seen.answers.iter().map(|(pid, _)| *pid).collect();
    assert!(pids.len() >= 6, "answers came from {pids:?}");
}

/// The example's paste file, its disable file moved into `dir`; returns the config.
fn paste_config(dir: &std::path::Path, app: &str, workers: usize) -> String {
    let path = support::api_paste_file(dir);
    format!(
        "[DEFAULT]\napi_paste_config = {}\n[api]\nport = 0\nworkers = {workers}\npaste_app = {app}\n",
        path.display()
    )
}

#[test]
fn the_paste_pipeline_serves_the_health_check_and_request_ids_from_every_worker() {
    let dir = tempfile::tempdir().unwrap();
    let (_service, port) = support::start_listening(API, &paste_config(dir.path(), "api", 2));

    let answer = get(port, "/v1/whoami").unwrap();
    assert_eq!(answer.status, 200);
    let id = answer.header("x-openstack-request-id").unwrap_or_default();
    assert!(
        id.starts_with("req-") && id.len() == 36,
        "{:?}",
        answer.headers
    );
    for _ in 0..10 {
        let health = get(port, "/healthcheck").unwrap();
        assert_eq!((health.status, health.text().as_str()), (200, "OK"));
    }
    let mut client = Connection::open(port).unwrap();
    client
        .send(b"HEAD /healthcheck HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert_eq!(client.read_response().unwrap().status, 204);

    // The operator's switch: every worker answers 503 while the file exists.
    std::fs::write(dir.path().join("disable"), "").unwrap();
    for _ in 0..10 {
        let health = get(port, "/healthcheck").unwrap();
        assert_eq!(
            (health.status, health.text().as_str()),
            (503, "DISABLED BY FILE")
        );
    }
    assert_eq!(get(port, "/v1/whoami").unwrap().status, 200);
}

#[test]
fn a_paste_app_that_does_not_load_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = paste_config(dir.path(), "nosuch", 1);
    let mut service = Service::start(API, &config, Stdout::Null);
    assert_eq!(exit_code(service.wait_exit()), 1, "{}", service.log());
    let expected = format!(
        "Could not load paste app 'nosuch' from {}: no section [app:nosuch]",
        dir.path().join("api-paste.ini").display()
    );
    assert!(service.log().contains(&expected), "{}", service.log());

    let config = "[DEFAULT]\napi_paste_config = missing-paste.ini\n[api]\nport = 0\nworkers = 1\npaste_app = api\n";
    let mut service = Service::start(API, config, Stdout::Null);
    assert_eq!(exit_code(service.wait_exit()), 1, "{}", service.log());
    assert!(
        service
            .log()
            .contains("Could not find config at missing-paste.ini"),
        "{}",
        service.log()
    );
}

/// A worker whose runtime is blocked (a handler that calls a blocking function) stops
/// answering its parent's heartbeat: the parent logs it with its pid and how long it
/// was silent, aborts it, kills it, and starts another, while the other worker serves.
#[test]
fn a_worker_whose_runtime_blocks_is_replaced_while_the_others_serve() {
    let (service, port) = start(
        "worker_heartbeat_interval = 1\nworker_heartbeat_timeout = 2",
        2,
    );
    // Block the worker that answers this connection.
    let mut blocked = Connection::open(port).unwrap();
    let answer = blocked.get("/v1/whoami", "").unwrap();
    let json: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    let pid = json["pid"].as_u64().unwrap() as u32;
    blocked
        .send(b"GET /debug/block/600000 HTTP/1.1\r\nHost: test\r\n\r\n")
        .unwrap();

    // The other worker (then the replacement too) answers all along. A connection
    // the blocked worker had accepted as it blocked (on a busy machine, one that came
    // in the same wake-up as the blocking request) is held until it is killed: a hung
    // worker holds what it took. So each request waits a second at most, and such a
    // one counts as lost instead of holding the loop until the kill.
    let deadline = std::time::Instant::now() + HANG;
    let (mut served, mut lost) = (0, 0);
    let whoami = || {
        let mut connection = Connection::open(port)?;
        connection.set_read_timeout(Duration::from_secs(1));
        connection.get("/v1/whoami", "")
    };
    while !service.log().contains(&format!("child killed pid={pid} ")) {
        assert!(std::time::Instant::now() < deadline, "{}", service.log());
        match whoami() {
            Ok(answer) => {
                assert_eq!(answer.status, 200);
                served += 1;
            }
            Err(_) => lost += 1,
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        served > 10,
        "only {served} answers while the worker was blocked"
    );
    assert!(lost <= 2, "{lost} requests lost beside {served} answered");
    let log = service.log();
    assert!(
        log.lines().any(
            |line| line.contains("worker runtime not answering, aborting it")
                && line.contains(&format!("pid={pid} "))
                && line.contains("silent_seconds=")
        ),
        "{log}"
    );
    // SIGABRT ended it (the handler blocks in a sleep, which the signal does not wait for).
    assert!(
        log.contains(&format!("child killed pid={pid} worker=")) && log.contains("signal=6"),
        "{log}"
    );
    // Its connection ends without an answer, and a replacement serves.
    assert!(blocked.read_response().is_err());
    let deadline = std::time::Instant::now() + HANG;
    while whoami_pid(port) == pid || service.log().matches("started worker").count() < 3 {
        assert!(std::time::Instant::now() < deadline, "{}", service.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    service.signal(Signal::TERM);
}

/// `graceful_shutdown_delay`: on SIGTERM the health check answers 503 at once while the
/// routes serve on for the delay; then the stop proceeds and the process exits 0.
#[test]
fn on_sigterm_the_health_check_fails_first_and_the_routes_serve_through_the_delay() {
    let config = "[DEFAULT]\ngraceful_shutdown_delay = 4\n[inventory]\nport = 0\napi_workers = 2\n";
    let (mut service, port) = support::start_listening(env!("CARGO_BIN_EXE_inventory"), config);
    assert_eq!(get(port, "/healthcheck").unwrap().status, 200);

    let signalled = std::time::Instant::now();
    service.signal(Signal::TERM);
    // Within a moment the health check says so...
    let deadline = signalled + Duration::from_secs(3);
    let unhealthy = loop {
        let health = get(port, "/healthcheck").unwrap();
        if health.status == 503 {
            break health;
        }
        assert!(std::time::Instant::now() < deadline, "{}", service.log());
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        unhealthy.text().contains("shutting down"),
        "{}",
        unhealthy.text()
    );
    // ...while the routes serve on, new connections included, until the delay is over.
    while signalled.elapsed() < Duration::from_secs(3) {
        let items = get(port, "/items").unwrap();
        assert_eq!(items.status, 200, "{}", service.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(exit_code(service.wait_exit()), 0, "{}", service.log());
    assert!(
        signalled.elapsed() >= Duration::from_secs(4),
        "the delay was cut short"
    );
    assert!(
        get(port, "/items").is_err(),
        "still accepting after the stop"
    );
}

/// `max_requests`: every 1,000 requests (and up to 100 more) a worker is replaced, a
/// new one first and then the old one drained, as a reload does: under keep-alive
/// load through ten recyclings, no request fails and no connection is refused.
#[test]
fn workers_recycled_every_thousand_requests_under_load_fail_no_request() {
    let (service, port) = start(
        "graceful_shutdown_timeout = 30\nmax_requests = 1000\nmax_requests_jitter = 100",
        2,
    );
    let load = Load::start(port, 8);
    // Each recycled worker answered its 1,000 and more of this load.
    support::wait_until("ten recyclings", || {
        service.log_count("recycling worker") >= 10
    });
    let seen = load.finish();
    let answered = seen.answers.len();
    seen.assert_nothing_failed("");
    // Replaced again and again (as fast as the fork rate allows: a worker keeps
    // serving until its replacement is ready, so one serves more than its 1,000 here).
    let pids: BTreeSet<u32> = seen.answers.iter().map(|(pid, _)| *pid).collect();
    let recycled = service.log_count("recycling worker");
    assert!(
        pids.len() >= 10,
        "{answered} answers from {} workers",
        pids.len()
    );
    assert!(recycled >= 10, "{}", service.log());
    assert!(
        service.log().contains("reason=max_requests"),
        "{}",
        service.log()
    );
    service.signal(Signal::TERM);
}

/// `max_worker_memory`: a worker whose resident memory goes past the limit is replaced
/// new-before-old, as at `max_requests`; the old one drains and exits 0, and under
/// load no request fails meanwhile.
#[test]
fn a_worker_past_max_worker_memory_is_replaced_and_no_request_fails() {
    let (service, port) = start("graceful_shutdown_timeout = 30\nmax_worker_memory = 96M", 2);
    let workers: BTreeSet<u32> = service.children().into_iter().collect();
    let load = Load::start(port, 4);
    let mut client = Connection::open(port).unwrap();
    client
        .send(b"POST /debug/allocate/160 HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    let answer = client.read_response().unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text());
    drop(client);
    let text = answer.text();
    let fat: u32 = text
        .strip_prefix("pid ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {text:?}"));
    assert!(workers.contains(&fat), "{fat} is none of {workers:?}");
    service.wait_log_line(&[
        "exceeded max_worker_memory (RSS ",
        &format!("pid={fat} "),
        "replacing it",
    ]);
    service.wait_log_line(&[
        "recycling worker",
        &format!("pid={fat} "),
        "reason=max_worker_memory",
    ]);
    // It drains and exits 0 once its replacement is ready.
    service.wait_log_line(&["child exited", &format!("pid={fat} "), "status=0"]);
    let seen = load.finish();
    seen.assert_nothing_failed(&service.log());
    let after: BTreeSet<u32> = service.children().into_iter().collect();
    assert!(!after.contains(&fat), "{after:?}");
    let replacement = *after.difference(&workers).next().expect("a new worker");
    support::wait_until("the new worker to answer", || {
        whoami_pid(port) == replacement
    });
    // The other worker, under the limit, stays.
    assert_eq!(after.len(), 2);
    assert_eq!(
        service.log_count("exceeded max_worker_memory"),
        1,
        "{}",
        service.log()
    );
    service.signal(Signal::TERM);
}

/// systemd's file descriptor store (`FileDescriptorStoreMax=`, told in `FDSTORE`): the
/// parent sends its listening socket once, named, before READY=1, and not again at a
/// reload. After a crash (the
/// parent killed, its workers gone) a client that connects waits in the socket's
/// backlog, and the next start, handed the socket back as systemd does, answers it: no
/// connection refused. The next start does not store it again.
#[test]
fn a_socket_in_systemds_store_refuses_no_client_across_a_crash() {
    use std::os::fd::AsRawFd;

    let mut command = std::process::Command::new(API);
    command.env("FDSTORE", "4");
    let mut first = Service::start_command(command, &config("", 2), support::Stdout::Null, None);
    let mut stored = Vec::new();
    loop {
        let (message, fds) = first.notify_with_fds();
        if message.starts_with("READY=1") {
            break;
        }
        if message.starts_with("FDSTORE=1") {
            stored.push((message, fds));
        } else {
            assert!(fds.is_empty(), "{message}");
        }
    }
    assert_eq!(stored.len(), 1, "{stored:?}\n{}", first.log());
    let (message, mut fds) = stored.pop().unwrap();
    assert_eq!(message, "FDSTORE=1\nFDNAME=api");
    assert_eq!(fds.len(), 1);
    let socket = std::net::TcpListener::from(fds.pop().unwrap());
    let port = socket.local_addr().unwrap().port();
    assert_eq!(port, support::listening_port(&first.log()));
    assert_eq!(get(port, "/v1/whoami").unwrap().status, 200);
    // A reload settles again: the socket is stored already, it is not sent twice.
    first.signal(Signal::HUP);
    let mut reloaded = Vec::new();
    loop {
        let (message, fds) = first.notify_with_fds();
        assert!(
            fds.is_empty() && !message.starts_with("FDSTORE"),
            "{message}"
        );
        if message.starts_with("READY=1")
            && reloaded
                .iter()
                .any(|m: &String| m.starts_with("RELOADING=1"))
        {
            break;
        }
        reloaded.push(message);
    }

    // A crash: the parent is killed, and its workers leave on their own.
    let workers = first.children();
    first.signal(Signal::KILL);
    first.wait_exit();
    for pid in workers {
        support::wait_until("the first run's workers to exit", || {
            !support::is_alive(pid)
        });
    }
    // No process listens now: the kernel queues the client in the backlog.
    let mut waiting = Connection::open(port).expect("connection refused after the crash");
    waiting
        .send(b"GET /v1/whoami HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();

    let command = support::with_systemd_socket(API, socket.as_raw_fd(), "api");
    let second = Service::start_command(command, &config("", 2), support::Stdout::Null, None);
    loop {
        let (message, _) = second.notify_with_fds();
        // systemd holds it already: not sent again.
        assert!(!message.starts_with("FDSTORE"), "{message}");
        if message.starts_with("READY=1") {
            break;
        }
    }
    let answer = waiting.read_response().unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text());
    let json: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    let pid = json["pid"].as_u64().unwrap() as u32;
    assert!(
        second.children().contains(&pid),
        "answered by {pid}\n{}",
        second.log()
    );
    second.signal(Signal::TERM);
}

/// `max_worker_lifetime`: a worker past its lifetime is replaced the same way.
#[test]
fn workers_past_their_lifetime_are_replaced() {
    let (service, port) = start("max_worker_lifetime = 1", 2);
    let first = whoami_pid(port);
    let deadline = std::time::Instant::now() + HANG;
    while !service
        .log()
        .contains(&format!("child exited pid={first} "))
    {
        assert!(std::time::Instant::now() < deadline, "{}", service.log());
        assert_eq!(get(port, "/v1/whoami").unwrap().status, 200);
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = service.log();
    assert!(
        log.lines().any(|line| line.contains("recycling worker")
            && line.contains(&format!("pid={first} "))
            && line.contains("reason=max_worker_lifetime")),
        "{log}"
    );
    assert_ne!(whoami_pid(port), first);
    service.signal(Signal::TERM);
}

/// A loopback port no one listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn moved_config(port: u16) -> String {
    format!(
        "[DEFAULT]\ngraceful_shutdown_timeout = 30\n[api]\nport = {port}\nworkers = 2\ndebug_routes = true\n"
    )
}

fn refused(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port))
        .is_err_and(|err| err.kind() == std::io::ErrorKind::ConnectionRefused)
}

#[test]
fn a_port_moved_by_sighup_is_served_by_the_new_workers_and_the_old_one_closed() {
    let (old, new) = (free_port(), free_port());
    let (service, port) = support::start_listening(API, &moved_config(old));
    assert_eq!(port, old);
    let load = Load::start(old, 8);
    support::wait_until("answers under load", || load.answered() > 50);
    // A request in flight on the old port across the move.
    let mut slow = Connection::open(old).unwrap();
    slow.send(b"GET /debug/sleep/1500 HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();

    service.rewrite_config(&moved_config(new));
    service.signal(Signal::HUP);
    service.expect_notify("RELOADING=1");
    let ready = service.expect_notify("READY=1");
    assert!(!ready.contains("reload refused"), "{ready}");
    let answer = get(new, "/v1/whoami").unwrap();
    assert_eq!(answer.status, 200);

    // Served whole by its old worker, however the port moved.
    assert_eq!(slow.read_response().unwrap().status, 200);
    // The old generation was asked to stop: its port refuses newcomers.
    support::wait_until("the old port refused", || refused(old));
    let seen = load.finish();
    // Keep-alive clients of the old port are refused once their connection closes (the
    // port moved): no request in flight failed.
    assert!(seen.failures.is_empty(), "{:?}", seen.failures);
    assert!(seen.answers.len() > 50, "{}", seen.answers.len());
    assert!(
        support::has_line(
            &service.log(),
            &["listening socket moved", &format!("127.0.0.1:{new}")]
        ),
        "{}",
        service.log()
    );

    // A port someone else holds refuses the reload: the moved one serves on.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port();
    service.rewrite_config(&moved_config(taken_port));
    service.signal(Signal::HUP);
    service.expect_notify("RELOADING=1");
    let ready = service.expect_notify("READY=1");
    assert!(
        ready.contains("STATUS=reload refused: ")
            && ready.contains(&format!(
                "server api cannot listen on 127.0.0.1:{taken_port}"
            )),
        "{ready}"
    );
    for _ in 0..5 {
        assert_eq!(get(new, "/v1/whoami").unwrap().status, 200);
    }
}

#[test]
fn a_port_moved_by_sighup_in_a_single_process_is_served_at_the_restart() {
    let (old, new) = (free_port(), free_port());
    let config = |port: u16| format!("[api]\nport = {port}\nworkers = 1\n");
    let (service, port) = support::start_listening(API, &config(old));
    assert_eq!(port, old);
    service.rewrite_config(&config(new));
    service.signal(Signal::HUP);
    service.expect_notify("RELOADING=1");
    service.expect_notify("READY=1");
    assert_eq!(get(new, "/v1/whoami").unwrap().status, 200);
    assert!(refused(old), "{}", service.log());
}
