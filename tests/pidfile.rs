//! `--pid-file`, driven through the `api` example as real processes: the parent's pid
//! written once it starts, never a worker's, removed at a clean exit only while it names
//! the parent, and a symbolic link at the path refused. (The upgrade's side is in
//! `tests/upgrade.rs`.)

mod support;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use support::{Service, Signal, Stdout, exit_code, has_line};

const API: &str = env!("CARGO_BIN_EXE_api");

const CONFIG: &str = "[DEFAULT]\ngraceful_shutdown_timeout = 30\n[api]\nport = 0\nworkers = 2\n";

/// Starts the example with `--pid-file pid_file` and `config`.
fn start(pid_file: &Path, config: &str) -> Service {
    let mut command = Command::new(API);
    command.arg("--pid-file").arg(pid_file);
    Service::start_command(command, config, Stdout::Null, None)
}

#[test]
fn the_parent_writes_its_pid_workers_never_touch_it_and_a_clean_exit_removes_it() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("api.pid");
    // A file left naming a process that runs (this test's) is overwritten, and said so.
    std::fs::write(&pid_file, format!("{}\n", std::process::id())).unwrap();
    let mut service = start(&pid_file, CONFIG);
    service.expect_notify("READY=1");
    assert_eq!(
        support::pid_in(&pid_file),
        service.pid(),
        "{}",
        service.log()
    );
    assert!(
        has_line(
            &service.log(),
            &["names another running process; overwriting it", "api.pid"]
        ),
        "{}",
        service.log()
    );
    let written = std::fs::symlink_metadata(&pid_file).unwrap();
    let workers = service.children();
    assert_eq!(workers.len(), 2);

    // A new generation of workers runs the same command line: the file stays the one
    // the parent wrote.
    service.signal(Signal::HUP);
    service.expect_notify("RELOADING=1");
    service.expect_notify("READY=1");
    support::wait_until("the old generation's exit", || {
        let now = service.children();
        now.len() == 2 && now.iter().all(|w| !workers.contains(w))
    });
    let now = std::fs::symlink_metadata(&pid_file).unwrap();
    assert_eq!(
        (now.ino(), now.mtime_nsec()),
        (written.ino(), written.mtime_nsec())
    );
    assert_eq!(support::pid_in(&pid_file), service.pid());

    service.signal(Signal::TERM);
    assert_eq!(exit_code(service.wait_exit()), 0, "{}", service.log());
    assert!(!pid_file.exists(), "{}", service.log());
    // No temporary file is left beside it either.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn a_pid_file_naming_another_process_at_exit_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("api.pid");
    let mut service = start(&pid_file, CONFIG);
    service.expect_notify("READY=1");
    assert_eq!(support::pid_in(&pid_file), service.pid());
    // Another instance (or an operator) took the path over meanwhile.
    std::fs::write(&pid_file, "4194000\n").unwrap();
    service.signal(Signal::TERM);
    assert_eq!(exit_code(service.wait_exit()), 0, "{}", service.log());
    assert_eq!(std::fs::read_to_string(&pid_file).unwrap(), "4194000\n");
}

#[test]
fn a_symlink_at_the_path_is_refused_and_left_untouched_with_its_target() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target");
    std::fs::write(&target, "precious\n").unwrap();
    let pid_file = dir.path().join("api.pid");
    std::os::unix::fs::symlink(&target, &pid_file).unwrap();
    let mut service = start(&pid_file, CONFIG);
    assert_eq!(exit_code(service.wait_exit()), 1, "{}", service.log());
    let expected = format!("pid file {}: is a symbolic link", pid_file.display());
    assert!(service.log().contains(&expected), "{}", service.log());
    assert_eq!(std::fs::read_link(&pid_file).unwrap(), target);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");
    // Nothing was started: no notification, no other file.
    assert!(service.try_notify().is_none());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[test]
fn a_missing_directory_is_refused_and_a_bad_configuration_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("run").join("api.pid");
    let mut service = start(&pid_file, CONFIG);
    assert_eq!(exit_code(service.wait_exit()), 1, "{}", service.log());
    let expected = format!(
        "pid file {}: its directory {} does not exist",
        pid_file.display(),
        dir.path().join("run").display()
    );
    assert!(service.log().contains(&expected), "{}", service.log());

    let pid_file = dir.path().join("api.pid");
    let mut service = start(&pid_file, "[api]\nport = 70000\n");
    assert_eq!(exit_code(service.wait_exit()), 1, "{}", service.log());
    assert!(service.log().contains("port"), "{}", service.log());
    assert!(!pid_file.exists());
}
