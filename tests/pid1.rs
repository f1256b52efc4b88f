//! A launcher as a container's first process: the `api` example run as PID 1 of a new
//! PID namespace (`unshare --pid --fork --mount-proc`) reaps the orphans its workers
//! leave, and stops gracefully on SIGTERM. Run as root; skipped otherwise.

mod support;

use std::process::Command;

use support::http::get;
use support::{Service, Signal, Stdout, exit_code};

const API: &str = env!("CARGO_BIN_EXE_api");
const UNSHARE: &str = "/usr/bin/unshare";

/// Every pid of `/proc/<pid>/task/*/children`, zombies too.
fn all_children_of(pid: u32) -> Vec<u32> {
    let mut children = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let list = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        children.extend(
            list.split_whitespace()
                .filter_map(|p| p.parse::<u32>().ok()),
        );
    }
    children
}

/// The pid `host_pid` has in the innermost namespace it is in.
fn pid_in_namespace(host_pid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{host_pid}/status")).ok()?;
    let line = status
        .lines()
        .find_map(|line| line.strip_prefix("NSpid:"))?;
    line.split_whitespace().last()?.parse().ok()
}

#[test]
fn as_pid_1_the_parent_reaps_its_workers_orphans_and_stops_on_sigterm() {
    if !rustix::process::geteuid().is_root() || !std::path::Path::new(UNSHARE).exists() {
        eprintln!("skipped: a new PID namespace needs root and {UNSHARE}");
        return;
    }
    let mut command = Command::new(UNSHARE);
    command.args(["--pid", "--fork", "--mount-proc", API]);
    let config = "[api]\nport = 0\nworkers = 2\ndebug_routes = true\n";
    let mut service = Service::start_command(command, config, Stdout::Null, None);
    service.expect_notify("READY=1");
    let port = support::listening_port(&service.log());
    // unshare forks the namespace's init: the example's parent.
    let inits = support::children_of(service.pid());
    assert_eq!(inits.len(), 1, "{}", service.log());
    let init = inits[0];
    assert_eq!(pid_in_namespace(init), Some(1));
    let workers = support::children_of(init);
    assert_eq!(workers.len(), 2, "{}", service.log());

    // Each answer leaves a sleep whose shell is gone: the init adopts it.
    let mut orphans = Vec::new();
    for _ in 0..3 {
        let answer = get(port, "/debug/orphan").unwrap();
        assert_eq!(answer.status, 200, "{}", answer.text());
        let inner: u32 = answer.text().trim().parse().unwrap();
        let host = all_children_of(init)
            .into_iter()
            .find(|&pid| pid_in_namespace(pid) == Some(inner))
            .unwrap_or_else(|| panic!("orphan {inner} not adopted by the init"));
        orphans.push(host);
    }
    // Once they end, none is left a zombie.
    for &orphan in &orphans {
        rustix::process::kill_process(
            rustix::process::Pid::from_raw(orphan as i32).unwrap(),
            Signal::TERM,
        )
        .unwrap();
    }
    support::wait_until("the orphans reaped", || {
        orphans
            .iter()
            .all(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists())
    });
    // The workers are still the init's, still serving.
    assert_eq!(support::children_of(init), workers);
    assert_eq!(get(port, "/").unwrap().status, 200);
    assert!(!service.log().contains("child exited"), "{}", service.log());

    // SIGTERM to PID 1 (which the kernel ignores without a handler) is a graceful stop.
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(init as i32).unwrap(),
        Signal::TERM,
    )
    .unwrap();
    assert_eq!(exit_code(service.wait_exit()), 0, "{}", service.log());
    assert!(
        service.log().contains("caught signal, stopping workers"),
        "{}",
        service.log()
    );
}
