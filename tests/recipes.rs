//! The recipes of README.md, run as a user would run them.

mod support;

use support::http::Connection;
use support::{Signal, exit_code, start_listening, wait_until};

const INVENTORY: &str = env!("CARGO_BIN_EXE_inventory");
const TALLY: &str = env!("CARGO_BIN_EXE_tally");

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

/// The refresher is launched with the bounds `1..=1`: SIGTTIN grows the API's workers
/// and not the refresher's, SIGTTOU shrinks the API's and keeps the one refresher, and
/// each signal says once that it left the refresher alone.
#[test]
fn sigttin_and_sigttou_change_the_api_workers_and_never_the_refresher() {
    let config = "[inventory]\nport = 0\napi_workers = 2\n";
    let (mut service, port) = start_listening(INVENTORY, config);
    let workers = |n: usize| {
        wait_until(&format!("{n} workers\n{}", service.log()), || {
            service.children().len() == n
        })
    };
    workers(3);

    service.signal(Signal::TTIN);
    // The parent handles a signal for every service before it starts a worker: by the
    // time the API's third worker starts, the refresher's count is settled.
    service.wait_log_line(&["started worker", "service=inventory-api", "worker=2"]);
    let log = service.log();
    assert!(
        support::has_line(
            &log,
            &[
                "worker count changed",
                "service=inventory-api",
                "from=2",
                "to=3"
            ]
        ),
        "{log}"
    );
    assert!(!has_count_change(&log, "service=Refresher"), "{log}");
    let at_most = [
        "not adding one",
        "service=Refresher",
        "workers=1",
        "bound=1",
    ];
    assert!(support::has_line(&log, &at_most), "{log}");
    workers(4);
    assert_eq!(service.log_count("started worker service=Refresher"), 1);

    service.signal(Signal::TTOU);
    service.wait_log("worker count changed service=inventory-api from=3 to=2");
    let at_least = [
        "not removing one",
        "service=Refresher",
        "workers=1",
        "bound=1",
    ];
    service.wait_log_line(&at_least);
    workers(3);
    let log = service.log();
    assert!(!has_count_change(&log, "service=Refresher"), "{log}");
    let said = |parts: &[&str]| {
        log.lines()
            .filter(|l| parts.iter().all(|p| l.contains(p)))
            .count()
    };
    assert_eq!((said(&at_most), said(&at_least)), (1, 1), "{log}");
    assert_eq!(service.log_count("refresher started"), 1, "{log}");
    let items = Connection::open(port).unwrap().get("/items", "").unwrap();
    assert_eq!(items.status, 200);

    service.signal(Signal::TERM);
    assert_eq!(exit_code(service.wait_exit()), 0, "{}", service.log());
}

/// Whether the log says the worker count of the service `field` names changed.
fn has_count_change(log: &str, field: &str) -> bool {
    support::has_line(log, &["worker count changed", field])
}

/// "What to put in Cargo.toml": a crate of its own whose one dependency is
/// `oslo-service` without its default features builds a service with `#[oslo::main]`,
/// `#[oslo::service]` and the launcher (the generated code needs no tokio, clap or
/// tracing of the user's). It is `benches/footprint`, checked here as a user's build
/// would check it, with the workspace's lock file.
#[test]
fn a_users_crate_with_oslo_service_alone_builds() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let manifest = std::fs::read_to_string(root.join("benches/footprint/Cargo.toml"))
        .unwrap()
        .replace(
            "path = \"../../oslo-service\"",
            &format!("path = {:?}", root.join("oslo-service")),
        )
        .replace(
            "path = \"../bench_workers.rs\"",
            &format!("path = {:?}", root.join("benches/bench_workers.rs")),
        );
    assert!(manifest.contains("default-features = false"), "{manifest}");
    std::fs::write(dir.path().join("Cargo.toml"), manifest).unwrap();
    std::fs::copy(root.join("Cargo.lock"), dir.path().join("Cargo.lock")).unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let checked = std::process::Command::new(cargo)
        .args(["check", "--quiet", "--manifest-path"])
        .arg(dir.path().join("Cargo.toml"))
        // Its own target directory, kept between runs: a user's crate builds apart.
        .env("CARGO_TARGET_DIR", root.join("target/users-crate"))
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap();
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
}

/// One service owns the HTTP server and has a periodic task: in each of its two worker
/// processes the server answers and the task runs, reading what the routes of that same
/// process counted. Every hit served is flushed by the task of the worker that served
/// it, and `/tally` shows a worker's flushed count from the state its routes share.
#[test]
fn a_periodic_task_runs_in_the_http_workers_over_the_apps_state() {
    let (mut service, port) = start_listening(TALLY, "[tally]\nport = 0\nworkers = 2\n");
    const HITS: u64 = 20;
    for _ in 0..HITS {
        let hit = Connection::open(port).unwrap().get("/hit", "").unwrap();
        assert_eq!(hit.status, 200);
    }
    let flushed = |log: &str| -> u64 {
        log.lines()
            .filter(|line| line.contains("tally flushed"))
            .filter_map(|line| {
                line.split_once(" hits=")?
                    .1
                    .split(' ')
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .sum()
    };
    wait_until(&format!("{HITS} hits flushed\n{}", service.log()), || {
        flushed(&service.log()) == HITS
    });
    let log = service.log();
    // Each flush ran in a worker of the service that serves.
    assert!(
        log.lines()
            .filter(|line| line.contains("tally flushed"))
            .all(|line| line.contains("worker{service=Tally worker=")),
        "{log}"
    );
    // A worker that served hits shows them flushed, from its own state.
    let children = service.children();
    let tally = Connection::open(port)
        .unwrap()
        .get("/tally", "")
        .unwrap()
        .text();
    let pid: u32 = tally
        .split_once("pid=")
        .and_then(|(_, rest)| rest.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {tally:?}"));
    assert!(
        children.contains(&pid),
        "{tally} not from a worker of {children:?}"
    );
    assert!(tally.contains("pending=0"), "{tally}");

    service.signal(Signal::TERM);
    assert_eq!(exit_code(service.wait_exit()), 0, "{}", service.log());
}
