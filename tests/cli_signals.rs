//! A program under `#[oslo::main]` that never starts a launcher (the `manage` example,
//! a `nova-manage`-style tool) behaves like any command-line program once its own code
//! runs: SIGINT, SIGTERM and SIGHUP end it by that signal, unless it handles one itself.

mod support;

use std::io::{BufRead, BufReader};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

const MANAGE: &str = env!("CARGO_BIN_EXE_manage");

use support::HANG;

/// Starts `manage` with `args` in a session of its own; returns it once it printed its
/// first line (its own code runs), and the reader of the rest.
fn start(args: &[&str]) -> (Child, BufReader<std::process::ChildStdout>) {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("manage.conf");
    std::fs::write(&conf, "[manage]\n").unwrap();
    let mut command = Command::new(MANAGE);
    command
        .arg("--config-file")
        .arg(&conf)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    // Under `nohup` the test runner, and so the program, would ignore SIGHUP: a program
    // keeps the dispositions it inherits, as a shell's commands do.
    support::default_signals(&mut command);
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            rustix::process::setsid()
                .map(drop)
                .map_err(std::io::Error::from)
        });
    }
    let mut child = command.spawn().unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    reader.read_line(&mut first).unwrap();
    assert!(!first.is_empty(), "manage printed nothing");
    (child, reader)
}

fn signal(child: &Child, signal: Signal) {
    kill_process(Pid::from_raw(child.id() as i32).unwrap(), signal).unwrap();
}

fn wait(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + HANG;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "manage did not end");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn sigint_sigterm_and_sighup_end_a_program_that_runs_no_launcher() {
    for (sent, number) in [(Signal::INT, 2), (Signal::TERM, 15), (Signal::HUP, 1)] {
        let (mut child, _out) = start(&["wait", "--seconds", "60"]);
        signal(&child, sent);
        let status = wait(&mut child);
        // Ended by the signal itself, as any program: a shell shows 128 + the number.
        assert_eq!(status.signal(), Some(number), "{sent:?}: {status:?}");
    }
}

/// Under `nohup` (as CI runners and shells often start jobs) the test runner ignores
/// SIGHUP, and would hand that on: the programs a test starts get the default
/// dispositions all the same. Ignoring SIGHUP here changes nothing for the other tests
/// of this file, which set them too.
#[test]
fn under_nohup_sighup_still_ends_a_program_that_runs_no_launcher() {
    // SAFETY: setting a disposition to SIG_IGN installs no handler; nothing in this
    // test binary relies on SIGHUP.
    assert_ne!(
        unsafe { libc::signal(libc::SIGHUP, libc::SIG_IGN) },
        libc::SIG_ERR
    );
    let (mut child, _out) = start(&["wait", "--seconds", "60"]);
    signal(&child, Signal::HUP);
    assert_eq!(wait(&mut child).signal(), Some(1));
}

#[test]
fn a_program_with_its_own_ctrl_c_handler_has_sigint_to_itself() {
    let (mut child, mut out) = start(&["migrate", "--steps", "600"]);
    signal(&child, Signal::INT);
    let status = wait(&mut child);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert_eq!(status.code(), Some(0), "{status:?} {rest}");
    assert!(
        rest.contains("interrupted after") && rest.contains("database consistent"),
        "{rest}"
    );
    // SIGTERM it does not handle: that one ends it.
    let (mut child, _out) = start(&["migrate", "--steps", "600"]);
    signal(&child, Signal::TERM);
    assert_eq!(wait(&mut child).signal(), Some(15));
}
