//! The recipes of README.md, run as a user would run them.

mod support;

use support::http::Connection;
use support::{Signal, exit_code, start_listening};

const INVENTORY: &str = env!("CARGO_BIN_EXE_inventory");

/// An HTTP API in two workers and a background service with a periodic task in a third,
/// from one `ProcessLauncher`: both serve, the task runs on its schedule in its own
/// worker, and one SIGTERM stops everything.
#[test]
fn an_http_api_and_background_tasks_in_one_program() {
    let config = "[inventory]\nport = 0\napi_workers = 2\nitems = apple, pear, plum\n";
    let (mut service, port) = start_listening(INVENTORY, config);

    let items = Connection::open(port).unwrap().get("/items", "").unwrap();
    assert_eq!(items.status, 200);
    assert_eq!(items.body, b"apple\npear\nplum\n");
    let health = Connection::open(port)
        .unwrap()
        .get("/healthcheck", "")
        .unwrap();
    assert_eq!(health.status, 200, "{}", service.log());

    // Run at start, then every second: three runs within a few seconds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while service.log_count("inventory refreshed count=3") < 3 {
        assert!(std::time::Instant::now() < deadline, "{}", service.log());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let log = service.log();
    // 3 workers: 2 of the API, 1 of the refresher, which alone runs the task.
    assert_eq!(service.log_count("refresher started"), 1, "{log}");
    assert!(
        log.lines()
            .filter(|line| line.contains("inventory refreshed"))
            .all(|line| line.contains("service=Refresher")),
        "{log}"
    );

    service.signal(Signal::TERM);
    assert_eq!(exit_code(service.wait_exit()), 0, "{}", service.log());
}
