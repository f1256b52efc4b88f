//! A binary upgrade (SIGUSR2) of the `api` example under load: the file on disk is
//! replaced by a new build, the running parent starts it and hands it the listening
//! socket, the new one takes over as systemd's main process once its workers are
//! ready, and the old one drains and exits. No request fails, no connection is refused.
//!
//! A "new build" is a copy of the example's executable with bytes appended (which the
//! loader ignores): its size differs, and so does the build the example answers with
//! (the size and time of its own executable, read through `/proc/self/exe`).

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::load::Load;
use support::{HANG, Service, Signal, Stdout, exit_code, listening_port};

const API: &str = env!("CARGO_BIN_EXE_api");

/// Puts a new build at `exe`, as a deployment does: written beside it, then renamed
/// over it (the running processes keep their old inode).
fn deploy(exe: &Path, round: usize) {
    let mut bytes = std::fs::read(API).unwrap();
    bytes.extend(std::iter::repeat_n(b'x', round));
    replace_executable(exe, &bytes);
}

/// Writes `bytes` beside `exe` as an executable, then renames it over `exe`.
///
/// The file to be run is written by another process (`install`), never through a
/// descriptor of this one: a child that another test thread forks at that moment
/// would inherit a descriptor open for writing until its own exec, and running the
/// file meanwhile fails with ETXTBSY ("text file busy").
fn replace_executable(exe: &Path, bytes: &[u8]) {
    let data = exe.with_extension("bytes");
    std::fs::write(&data, bytes).unwrap();
    let staged = exe.with_extension("new");
    let installed = std::process::Command::new("install")
        .args(["-m", "0755"])
        .arg(&data)
        .arg(&staged)
        .status()
        .expect("run install");
    assert!(installed.success(), "install {} failed", staged.display());
    std::fs::remove_file(&data).unwrap();
    std::fs::rename(&staged, exe).unwrap();
}

/// Whether `pid` runs (a zombie no longer does).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let state = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .next()?
                .to_owned();
            Some(state != "Z")
        })
        .unwrap_or(false)
}

fn wait_gone(pid: u32) {
    let deadline = Instant::now() + HANG;
    while alive(pid) {
        assert!(Instant::now() < deadline, "process {pid} still runs");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(pid: u32, signal: Signal) {
    let pid = rustix::process::Pid::from_raw(pid as i32).unwrap();
    rustix::process::kill_process(pid, signal).unwrap();
}

/// When the process that serves the metrics started, as it says (in OpenMetrics, whose
/// `# EOF` shows the exposition whole).
fn top_start_time(metrics: u16) -> f64 {
    let scraped = support::http::Connection::open(metrics)
        .and_then(|mut conn| conn.get("/metrics", "Accept: application/openmetrics-text\r\n"))
        .unwrap();
    assert_eq!(scraped.status, 200);
    let text = scraped.text();
    assert!(text.ends_with("# EOF\n"), "{text}");
    text.lines()
        .find_map(|line| line.strip_prefix("process_start_time_seconds "))
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no start time in\n{text}"))
}

/// The executable of the test's service, copied where a test may replace it.
fn installed(dir: &Path) -> PathBuf {
    let exe = dir.join("api");
    replace_executable(&exe, &std::fs::read(API).unwrap());
    exe
}

fn upgrade_under_load(workers: usize) {
    let dir = tempfile::tempdir().unwrap();
    let exe = installed(dir.path());
    let config = format!(
        "[DEFAULT]\ngraceful_shutdown_timeout = 30\n[api]\nport = 0\nworkers = {workers}\n\
         [metrics]\nenabled = true\nport = 0\n"
    );
    let mut service = Service::start(&exe.to_string_lossy(), &config, Stdout::Null);
    service.expect_notify("READY=1");
    let port = listening_port(&service.log());
    let metrics = support::metrics_port(&service.log());
    let mut started = top_start_time(metrics);
    let load = Load::start(port, 8);

    let mut parent = service.pid();
    let mut parents = vec![parent];
    for round in 1..=3 {
        let answered = load.answered();
        support::wait_until("answers from this build", || {
            load.answered() > answered + 50
        });
        deploy(&exe, round);
        signal(parent, Signal::USR2);
        let successor = support::main_pid(&service.expect_notify("MAINPID="));
        assert_ne!(successor, parent);
        service.expect_notify("READY=1");
        wait_gone(parent);
        parent = successor;
        parents.push(parent);
        // The metrics endpoint's socket went to the successor with the others: the
        // same port answers, from the new top process.
        let now = top_start_time(metrics);
        assert!(now > started, "the metrics still come from the old process");
        started = now;
    }
    // Answers from now on come from the last build alone.
    let answered = load.answered();
    support::wait_until("answers from the last build", || {
        load.answered() > answered + 50
    });
    let last = load.last_builds(load.answered() - answered);
    let seen = load.finish();
    let log = service.log();
    seen.assert_nothing_failed(&log);
    assert!(
        seen.answers.len() > 100,
        "only {} answered",
        seen.answers.len()
    );
    // Four builds answered, one after the other.
    let mut builds: Vec<&String> = Vec::new();
    for (_, build) in &seen.answers {
        if builds.last() != Some(&build) && !builds.contains(&build) {
            builds.push(build);
        }
    }
    assert_eq!(builds.len(), 4, "builds seen: {builds:?}");
    assert!(!last.is_empty(), "no answer after the last upgrade");
    assert!(last.iter().all(|b| b == builds[3]), "{last:?}");
    // No process of an old build is left: its parents and workers are gone.
    let old_pids: Vec<u32> = seen
        .answers
        .iter()
        .filter(|(_, build)| build != builds[3])
        .map(|(pid, _)| *pid)
        .chain(parents[..3].iter().copied())
        .collect();
    for pid in old_pids {
        assert!(!alive(pid), "process {pid} of an old build still runs");
    }
    // The original parent (the test's child) exited 0.
    assert_eq!(exit_code(service.wait_exit()), 0, "{log}");

    // The last parent is the one systemd follows, and stops as ever.
    assert!(alive(parent));
    signal(parent, Signal::TERM);
    wait_gone(parent);
}

#[test]
fn three_upgrades_of_four_workers_under_load_fail_no_request() {
    upgrade_under_load(4);
}

#[test]
fn an_upgrade_of_a_single_process_service_fails_no_request() {
    upgrade_under_load(1);
}

#[test]
fn a_new_executable_that_fails_leaves_the_old_one_serving() {
    let dir = tempfile::tempdir().unwrap();
    let exe = installed(dir.path());
    let config = "[DEFAULT]\ngraceful_shutdown_timeout = 2\n[api]\nport = 0\nworkers = 2\n";
    let mut service = Service::start(&exe.to_string_lossy(), config, Stdout::Null);
    service.expect_notify("READY=1");
    let port = listening_port(&service.log());
    let load = Load::start(port, 4);

    // One that exits at once, then one that never gets ready.
    let failing = [
        (
            "#!/bin/sh\nexit 3\n",
            "exited with status 3 before it was ready",
        ),
        (
            "#!/bin/sh\nexec sleep 600\n",
            "was not ready within graceful_shutdown_timeout",
        ),
    ];
    for (script, reason) in failing {
        replace_executable(&exe, script.as_bytes());
        service.signal(Signal::USR2);
        let deadline = Instant::now() + HANG;
        while !service.log().contains(reason) {
            assert!(Instant::now() < deadline, "{}", service.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            service.log().contains("upgrade failed, serving on"),
            "{}",
            service.log()
        );
    }
    // Served on after the failed upgrades.
    let answered = load.answered();
    support::wait_until("answers after the upgrades", || {
        load.answered() > answered + 50
    });
    let seen = load.finish();
    let log = service.log();
    seen.assert_nothing_failed(&log);
    // Every answer came from the build that was running all along.
    let first = &seen.answers[0].1;
    assert!(seen.answers.iter().all(|(_, b)| b == first), "{log}");
    // No successor took over as systemd's main process.
    let notes = service.notifications_for(Duration::from_millis(100));
    assert!(!notes.iter().any(|n| n.contains("MAINPID")), "{notes:?}");
    service.signal(Signal::TERM);
    assert_eq!(exit_code(service.wait_exit()), 0, "{log}");
}

#[test]
fn the_pid_file_moves_to_the_successor_and_the_old_pid_to_oldbin_until_it_exits() {
    let dir = tempfile::tempdir().unwrap();
    let exe = installed(dir.path());
    let pid_file = dir.path().join("api.pid");
    let oldbin = dir.path().join("api.pid.oldbin");
    // The old parent lives on after the hand-over while a request of ten minutes keeps
    // one of its workers busy: until graceful_shutdown_timeout cuts it.
    let config = "[DEFAULT]\ngraceful_shutdown_timeout = 10\n\
                  [api]\nport = 0\nworkers = 2\ndebug_routes = true\n";
    let mut command = std::process::Command::new(&exe);
    command.arg("--pid-file").arg(&pid_file);
    let mut service = Service::start_command(command, config, Stdout::Null, None);
    service.expect_notify("READY=1");
    let old = service.pid();
    assert_eq!(support::pid_in(&pid_file), old);
    let port = listening_port(&service.log());
    let mut busy = support::http::Connection::open(port).unwrap();
    busy.send(b"GET /debug/sleep/600000 HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    service.wait_log_line(&["sleep started"]);

    deploy(&exe, 1);
    service.signal(Signal::USR2);
    let successor = support::main_pid(&service.expect_notify("MAINPID="));
    service.expect_notify("READY=1");
    service.wait_log("the new executable is ready, stopping this one's workers");
    assert!(alive(old), "{}", service.log());
    assert_eq!(support::pid_in(&pid_file), successor, "{}", service.log());
    assert_eq!(support::pid_in(&oldbin), old, "{}", service.log());

    // The old one exits once its request is cut; its oldbin goes with it, and the
    // successor's pid file stays.
    service.wait_exit();
    assert!(!oldbin.exists(), "{}", service.log());
    assert_eq!(support::pid_in(&pid_file), successor);

    // The successor removes it at its own clean stop.
    signal(successor, Signal::TERM);
    wait_gone(successor);
    assert!(!pid_file.exists(), "{}", service.log());
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(names, ["api"], "{}", service.log());
}

#[test]
fn an_upgrade_binds_a_moved_port_and_the_old_one_is_refused_once_the_old_parent_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let exe = installed(dir.path());
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (old_port, new_port) = (free(), free());
    let config = |port: u16| {
        format!(
            "[DEFAULT]\ngraceful_shutdown_timeout = 30\n[api]\nport = {port}\nworkers = 2\ndebug_routes = true\n"
        )
    };
    let command = std::process::Command::new(&exe);
    let mut service = Service::start_command(command, &config(old_port), Stdout::Null, None);
    service.expect_notify("READY=1");
    assert_eq!(listening_port(&service.log()), old_port);
    let load = Load::start(old_port, 4);
    support::wait_until("answers under load", || load.answered() > 20);

    service.rewrite_config(&config(new_port));
    deploy(&exe, 1);
    service.signal(Signal::USR2);
    let successor = support::Successor::named_in(&service.expect_notify("MAINPID="));
    service.expect_notify("READY=1");
    let answer = support::http::get(new_port, "/v1/whoami").unwrap();
    assert_eq!(answer.status, 200, "{}", service.log());

    assert_eq!(exit_code(service.wait_exit()), 0, "{}", service.log());
    let refused = std::net::TcpStream::connect(("127.0.0.1", old_port))
        .is_err_and(|err| err.kind() == std::io::ErrorKind::ConnectionRefused);
    assert!(refused, "the old port still accepts\n{}", service.log());
    let seen = load.finish();
    // Clients of the old port are refused once their connection closes: none of the
    // requests in flight failed.
    assert!(seen.failures.is_empty(), "{:?}", seen.failures);
    successor.terminate();
}

/// `--upgrade PID`, run with the build under test.
fn ask_upgrade(pid: u32) -> std::process::Command {
    let mut command = std::process::Command::new(API);
    command
        .arg("--upgrade")
        .arg(pid.to_string())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    command
}

#[test]
fn the_upgrade_flag_waits_for_the_outcome_and_exits_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let exe = installed(dir.path());
    let config = "[DEFAULT]\ngraceful_shutdown_timeout = 2\n[api]\nport = 0\nworkers = 2\n";
    let mut service = Service::start(&exe.to_string_lossy(), config, Stdout::Null);
    service.expect_notify("READY=1");
    let old = service.pid();

    // A new executable that exits at once: 1, and why.
    replace_executable(&exe, b"#!/bin/sh\nexit 3\n");
    let failed = ask_upgrade(old).output().unwrap();
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert_eq!(failed.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("exited with status 3 before it was ready"),
        "{stderr}"
    );
    let notes = service.notifications_for(Duration::from_millis(200));
    assert!(
        notes.iter().any(|n| n.contains("STATUS=upgrade failed: ")),
        "{notes:?}"
    );

    // One that never gets ready, and a second request meanwhile: refused at once.
    replace_executable(&exe, b"#!/bin/sh\nexec sleep 600\n");
    let first = ask_upgrade(old).spawn().unwrap();
    service.wait_for_log("caught signal, started the executable on disk", 2);
    let second = ask_upgrade(old).output().unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("an upgrade is under way already"),
        "{stderr}"
    );
    let first = first.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert_eq!(first.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("was not ready within graceful_shutdown_timeout"),
        "{stderr}"
    );

    // A good build: 0 once it is ready and the old parent has exited.
    deploy(&exe, 1);
    let upgraded = ask_upgrade(old).output().unwrap();
    let stdout = String::from_utf8_lossy(&upgraded.stdout);
    assert!(
        upgraded.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&upgraded.stderr)
    );
    assert!(
        !alive(old),
        "the old parent still runs when --upgrade said so"
    );
    let successor = support::Successor::named_in(&service.expect_notify("MAINPID="));
    assert!(
        stdout.contains(&format!("upgraded: process {} serves", successor.0)),
        "{stdout}"
    );
    let ready = service.expect_notify("READY=1");
    assert!(ready.contains("(upgraded)"), "{ready}");
    assert_eq!(exit_code(service.wait_exit()), 0, "{}", service.log());

    // A pid that is no service of ours: 1, and why.
    let stranger = ask_upgrade(std::process::id()).output().unwrap();
    let stderr = String::from_utf8_lossy(&stranger.stderr);
    assert_eq!(stranger.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("takes no upgrade requests"), "{stderr}");
}
