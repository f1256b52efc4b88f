//! Process titles as oslo.service's: the parent of worker processes shows
//! `<program>: master process [<command line>]`, each worker
//! `<program>: <service> worker(<index>)`, in `/proc/<pid>/cmdline` and `ps`, with the
//! title's first 15 bytes as the process's name; new workers after a reload and the
//! successor of an upgrade (started from the arguments the title was written over) too.

mod support;

use std::collections::BTreeSet;
use std::process::Command;

use support::{Signal, Successor, is_alive, main_pid, start_listening, wait_until};

const API: &str = env!("CARGO_BIN_EXE_api");

const CONFIG: &str = "[DEFAULT]\ngraceful_shutdown_timeout = 30\n[api]\nport = 0\nworkers = 2\n";

/// `/proc/<pid>/cmdline` with the NULs that pad a title dropped: the title alone.
fn cmdline(pid: u32) -> String {
    let bytes = std::fs::read(format!("/proc/{pid}/cmdline")).expect("read cmdline");
    let end = bytes
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |last| last + 1);
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// What `ps -o args=` shows for `pid`.
fn ps_args(pid: u32) -> String {
    let out = Command::new("ps")
        .args(["-o", "args=", "-p", &pid.to_string()])
        .output()
        .expect("run ps");
    assert!(out.status.success(), "ps for {pid}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim_end().to_owned()
}

/// The process's name, `/proc/<pid>/comm`.
fn comm(pid: u32) -> String {
    let name = std::fs::read_to_string(format!("/proc/{pid}/comm")).expect("read comm");
    name.trim_end_matches('\n').to_owned()
}

/// Checks that `pid` shows `title` everywhere a title shows.
fn assert_title(pid: u32, title: &str) {
    assert_eq!(cmdline(pid), title, "/proc/{pid}/cmdline");
    assert_eq!(ps_args(pid), title, "ps -o args= -p {pid}");
    let name: String = title.chars().take(15).collect();
    assert_eq!(comm(pid), name, "/proc/{pid}/comm");
}

/// The titles of `parent`'s two workers, once it has exactly two.
fn worker_titles(parent: u32) -> (Vec<u32>, BTreeSet<String>) {
    wait_until("two workers", || support::children_of(parent).len() == 2);
    let workers = support::children_of(parent);
    let titles = workers.iter().map(|&pid| cmdline(pid)).collect();
    for &pid in &workers {
        assert_title(pid, &cmdline(pid));
    }
    (workers, titles)
}

fn expected_workers() -> BTreeSet<String> {
    ["api: api worker(0)", "api: api worker(1)"]
        .into_iter()
        .map(String::from)
        .collect()
}

#[test]
fn the_parent_and_each_worker_show_oslo_service_titles_across_a_reload_and_an_upgrade() {
    let (service, _port) = start_listening(API, CONFIG);
    let master = format!(
        "api: master process [{API} --config-file {}]",
        service.config_path().display()
    );
    assert_title(service.pid(), &master);
    let (old, titles) = worker_titles(service.pid());
    assert_eq!(titles, expected_workers(), "{}", service.log());

    // A reload's new generation sets its own titles.
    service.signal(Signal::HUP);
    service.expect_notify("RELOADING=1");
    service.expect_notify("READY=1");
    wait_until("the old workers to exit", || {
        old.iter().all(|&pid| !is_alive(pid))
    });
    let (new, titles) = worker_titles(service.pid());
    assert!(
        new.iter().all(|pid| !old.contains(pid)),
        "{old:?} -> {new:?}"
    );
    assert_eq!(titles, expected_workers(), "{}", service.log());
    assert_title(service.pid(), &master);

    // The successor of an upgrade runs on the arguments the parent's title was written
    // over: the same command line, hence the same title.
    service.signal(Signal::USR2);
    let successor = Successor(main_pid(&service.expect_notify("MAINPID=")));
    service.expect_notify("READY=1");
    assert_title(successor.0, &master);
    let (_, titles) = worker_titles(successor.0);
    assert_eq!(titles, expected_workers(), "{}", service.log());
}
