//! Runs the example binaries as real processes: each in its own session, with a real
//! systemd notify socket to learn when it is ready, its log in a file, and signals sent
//! with kill(2).
// Each test file uses its own part of this module.
#![allow(dead_code)]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub use rustix::process::Signal;

/// How long anything may take before the test calls it a hang.
pub const HANG: Duration = Duration::from_secs(30);

/// The signals tests send, and the programs under test handle or die of.
const SIGNALS_SENT: [i32; 6] = [
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

/// Starts `command`'s program with the default disposition of every signal the tests
/// send, whatever the test runner inherited: under `nohup` SIGHUP arrives ignored, a
/// CI runner may ignore others, and an ignored signal stays ignored across exec.
/// (std already clears the signal mask and SIGPIPE's disposition.)
pub fn default_signals(command: &mut Command) -> &mut Command {
    // SAFETY: signal(2) is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            for signal in SIGNALS_SENT {
                if libc::signal(signal, libc::SIG_DFL) == libc::SIG_ERR {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        })
    }
}

/// Where the service's standard output goes.
pub enum Stdout {
    /// Nowhere: no terminal, so the process is a daemon.
    Null,
    /// A new pseudo-terminal whose foreground process group is the service's.
    Terminal,
}

/// A running example service.
pub struct Service {
    child: Child,
    dir: tempfile::TempDir,
    notify: UnixDatagram,
    /// Kept open for the child's lifetime: closing it would hang up the terminal.
    _terminal: Option<OwnedFd>,
}

impl Service {
    /// Starts `binary` with `config` as its only config file, detached in a new session.
    pub fn start(binary: &str, config: &str, stdout: Stdout) -> Service {
        Self::start_with_notify(binary, config, stdout, None)
    }

    /// Like [`Service::start`], with NOTIFY_SOCKET in the abstract namespace when
    /// `abstract_name` is given.
    pub fn start_with_notify(
        binary: &str,
        config: &str,
        stdout: Stdout,
        abstract_name: Option<&str>,
    ) -> Service {
        Self::start_command(Command::new(binary), config, stdout, abstract_name)
    }

    /// Like [`Service::start_with_notify`] with a command prepared by the caller (a
    /// wrapper program, inherited descriptors); `--config-file` is appended.
    pub fn start_command(
        command: Command,
        config: &str,
        stdout: Stdout,
        abstract_name: Option<&str>,
    ) -> Service {
        Self::launch(command, Some(config), stdout, abstract_name)
    }

    /// Like [`Service::start_command`], without `--config-file`: the program looks for
    /// its configuration where oslo.config would.
    pub fn start_searching(command: Command) -> Service {
        Self::launch(command, None, Stdout::Null, None)
    }

    fn launch(
        mut command: Command,
        config: Option<&str>,
        stdout: Stdout,
        abstract_name: Option<&str>,
    ) -> Service {
        default_signals(&mut command);
        let dir = tempfile::tempdir().expect("temp dir");
        let conf = dir.path().join("service.conf");
        if let Some(config) = config {
            std::fs::write(&conf, config).expect("write config");
            command.arg("--config-file").arg(&conf);
        }
        let (notify, notify_env) = match abstract_name {
            Some(name) => {
                use std::os::linux::net::SocketAddrExt;
                let addr =
                    std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
                (
                    UnixDatagram::bind_addr(&addr).expect("bind notify"),
                    format!("@{name}"),
                )
            }
            None => {
                let path = dir.path().join("notify");
                (
                    UnixDatagram::bind(&path).expect("bind notify"),
                    path.display().to_string(),
                )
            }
        };
        let log = std::fs::File::create(dir.path().join("log")).expect("log file");

        command
            .env("NOTIFY_SOCKET", notify_env)
            .stdin(Stdio::null())
            .stderr(log);
        let terminal = match stdout {
            Stdout::Null => {
                command.stdout(Stdio::null());
                // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
                unsafe {
                    command
                        .pre_exec(|| rustix::process::setsid().map(drop).map_err(io::Error::from));
                }
                None
            }
            Stdout::Terminal => {
                let (master, slave) = open_terminal();
                command.stdout(slave);
                // SAFETY: setsid and ioctl are async-signal-safe; fd 1 is the terminal's
                // slave end, set up by std before this runs.
                unsafe {
                    command.pre_exec(|| {
                        rustix::process::setsid()?;
                        rustix::process::ioctl_tiocsctty(BorrowedFd::borrow_raw(1))?;
                        Ok(())
                    });
                }
                Some(master)
            }
        };
        let child = command.spawn().expect("spawn the example");
        Service {
            child,
            dir,
            notify,
            _terminal: terminal,
        }
    }

    /// Starts `binary` with `config` and expects it to refuse to start: exit status 1
    /// and `message` in its log, after `<config path>:`.
    pub fn expect_start_refused(binary: &str, config: &str, message: &str) {
        let mut service = Service::start(binary, config, Stdout::Null);
        assert_eq!(exit_code(service.wait_exit()), 1, "{}", service.log());
        let expected = format!("{}:{message}", service.config_path().display());
        assert!(service.log().contains(&expected), "{}", service.log());
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("service.conf")
    }

    /// Replaces the config file, for a reload.
    pub fn rewrite_config(&self, config: &str) {
        std::fs::write(self.config_path(), config).expect("rewrite config");
    }

    /// Waits for the next notify message and checks it starts with `expected`.
    /// Waits for the next notification that changes the service's state (informational
    /// ones skipped) and checks that it starts with `expected`; returns it whole.
    pub fn expect_notify(&self, expected: &str) -> String {
        self.notify.set_read_timeout(Some(HANG)).unwrap();
        let message = loop {
            let mut buf = [0u8; 512];
            let n = self.notify.recv(&mut buf).unwrap_or_else(|err| {
                panic!(
                    "no '{expected}' from the service: {err}\nlog:\n{}",
                    self.log()
                )
            });
            let message = String::from_utf8_lossy(&buf[..n]).into_owned();
            if !is_informational(&message) {
                break message;
            }
        };
        assert!(
            message.starts_with(expected),
            "expected '{expected}', got '{message}'\nlog:\n{}",
            self.log()
        );
        message
    }

    /// Waits for the next notification, informational ones included, with the
    /// descriptors it carries (SCM_RIGHTS), as systemd reads `FDSTORE=1`.
    pub fn notify_with_fds(&self) -> (String, Vec<OwnedFd>) {
        use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
        self.notify.set_read_timeout(Some(HANG)).unwrap();
        let mut buf = [0u8; 512];
        let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(8))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let got = rustix::net::recvmsg(
            &self.notify,
            &mut [io::IoSliceMut::new(&mut buf)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        )
        .unwrap_or_else(|err| panic!("no notification: {err}\nlog:\n{}", self.log()));
        let fds = control
            .drain()
            .flat_map(|message| match message {
                RecvAncillaryMessage::ScmRights(fds) => fds.collect(),
                _ => Vec::new(),
            })
            .collect();
        (String::from_utf8_lossy(&buf[..got.bytes]).into_owned(), fds)
    }

    /// Every notification that arrives within `wait`, informational ones included.
    pub fn notifications_for(&self, wait: Duration) -> Vec<String> {
        let deadline = Instant::now() + wait;
        let mut found = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            self.notify
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .unwrap();
            let mut buf = [0u8; 512];
            match self.notify.recv(&mut buf) {
                Ok(n) => found.push(String::from_utf8_lossy(&buf[..n]).into_owned()),
                Err(_) => break,
            }
        }
        found
    }

    /// Waits until the process is about to run its own code: the Rust runtime, which
    /// starts right before `main`, has its SIGSEGV and SIGBUS handlers in place (for
    /// stack overflows). Before that, the process is still being loaded.
    pub fn wait_running_own_code(&self) {
        const RUNTIME_HANDLERS: u64 = (1 << (11 - 1)) | (1 << (7 - 1));
        let status = format!("/proc/{}/status", self.pid());
        let started = || {
            std::fs::read_to_string(&status)
                .ok()
                .and_then(|text| {
                    let line = text.lines().find(|line| line.starts_with("SigCgt:"))?;
                    u64::from_str_radix(line.split_whitespace().nth(1)?, 16).ok()
                })
                .is_some_and(|caught| caught & RUNTIME_HANDLERS == RUNTIME_HANDLERS)
        };
        // Polled without sleeping: the moment matters, it is a matter of microseconds.
        let deadline = Instant::now() + HANG;
        while !started() {
            assert!(
                Instant::now() < deadline,
                "the process never started running"
            );
            std::thread::yield_now();
        }
    }

    /// Sends `signal` to the service's whole process group: itself and its workers.
    pub fn signal_group(&self, signal: Signal) {
        let pid = rustix::process::Pid::from_raw(self.pid() as i32).unwrap();
        rustix::process::kill_process_group(pid, signal).expect("kill the process group");
    }

    pub fn signal(&self, signal: Signal) {
        let pid = rustix::process::Pid::from_raw(self.pid() as i32).unwrap();
        rustix::process::kill_process(pid, signal).expect("kill");
    }

    /// Waits for the process to exit, failing the test after [`HANG`].
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + HANG;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the service did not exit\nlog:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("wait").is_none()
    }

    /// What the service logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    /// Waits until the log holds `count` lines containing `needle`, failing after
    /// [`HANG`]: for events that come after readiness, such as a periodic task's run.
    pub fn wait_for_log(&self, needle: &str, count: usize) -> String {
        let deadline = Instant::now() + HANG;
        loop {
            let log = self.log();
            if log.matches(needle).count() >= count {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "no {count} × '{needle}' in the log:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log_count(&self, needle: &str) -> usize {
        self.log().matches(needle).count()
    }

    /// Waits until one line of the log holds every one of `parts` (a message and its
    /// fields, say), failing the test after [`HANG`].
    pub fn wait_log_line(&self, parts: &[&str]) {
        let deadline = Instant::now() + HANG;
        while !has_line(&self.log(), parts) {
            assert!(
                Instant::now() < deadline,
                "no line with {parts:?} in the log\nlog:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until the log contains `needle`, failing the test after [`HANG`].
    pub fn wait_log(&self, needle: &str) {
        let deadline = Instant::now() + HANG;
        while !self.log().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "no '{needle}' in the log\nlog:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// A notify message that already arrived, if any, informational ones left out.
    pub fn try_notify(&self) -> Option<String> {
        self.notify.set_nonblocking(true).unwrap();
        let mut got = None;
        loop {
            let mut buf = [0u8; 512];
            let Ok(n) = self.notify.recv(&mut buf) else {
                break;
            };
            let message = String::from_utf8_lossy(&buf[..n]).into_owned();
            if !is_informational(&message) {
                got = Some(message);
                break;
            }
        }
        self.notify.set_nonblocking(false).unwrap();
        got
    }

    /// The pids of the service's child processes, sorted.
    pub fn children(&self) -> Vec<u32> {
        children_of(self.pid())
    }

    /// Leaves the service no new file descriptor: its limit goes to 3 (its standard
    /// input, output and error are open; the limit is on descriptor numbers, so those in
    /// use above it stay usable). Returns the limit it had, for
    /// [`Service::restore_descriptors`].
    pub fn starve_of_descriptors(&self) -> rustix::process::Rlimit {
        use rustix::process::{Resource, Rlimit, getrlimit, prlimit};
        let starved = Rlimit {
            current: Some(3),
            // It inherited this process's hard limit.
            maximum: getrlimit(Resource::Nofile).maximum,
        };
        prlimit(Some(self.rustix_pid()), Resource::Nofile, starved).expect("prlimit")
    }

    /// Gives the service back the descriptor limit it had.
    pub fn restore_descriptors(&self, limit: rustix::process::Rlimit) {
        rustix::process::prlimit(
            Some(self.rustix_pid()),
            rustix::process::Resource::Nofile,
            limit,
        )
        .expect("prlimit");
    }

    fn rustix_pid(&self) -> rustix::process::Pid {
        rustix::process::Pid::from_raw(self.pid() as i32).expect("a pid")
    }
}

/// A notification that says what the service is doing but changes no state: `STATUS=`,
/// `WATCHDOG=1`, `EXTEND_TIMEOUT_USEC=` alone.
pub fn is_informational(message: &str) -> bool {
    message.lines().all(|line| {
        line.starts_with("STATUS=")
            || line == "WATCHDOG=1"
            || line.starts_with("EXTEND_TIMEOUT_USEC=")
    })
}

/// Whether one line of `log` holds every one of `parts`: a log line's message and its
/// fields (`signal=SIGTERM`) in any order.
/// The pid a pid file names.
pub fn pid_in(path: &Path) -> u32 {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("no pid in {text:?}"))
}

/// The `api` example's paste file (`examples/api-paste.ini`) written into `dir`, its
/// health check's disable file moved there too; its path.
pub fn api_paste_file(dir: &Path) -> PathBuf {
    let paste = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/api-paste.ini"
    ))
    .unwrap()
    .replace(
        "/tmp/api-healthcheck-disable",
        &dir.join("disable").display().to_string(),
    );
    let path = dir.join("api-paste.ini");
    std::fs::write(&path, paste).unwrap();
    path
}

/// Starts a server example with `config`, waits for READY=1, and reads the port it
/// logged.
pub fn start_listening(binary: &str, config: &str) -> (Service, u16) {
    let service = Service::start(binary, config, Stdout::Null);
    service.expect_notify("READY=1");
    let port = listening_port(&service.log());
    (service, port)
}

/// The port of the first `address=127.0.0.1:<port>` in a log (where a server says it
/// listens).
pub fn listening_port(log: &str) -> u16 {
    let (_, rest) = log
        .split_once("address=127.0.0.1:")
        .unwrap_or_else(|| panic!("no address in the log\n{log}"));
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap()
}

/// The port of the metrics endpoint, from the line where it says it listens.
pub fn metrics_port(log: &str) -> u16 {
    let (_, rest) = log
        .split_once("serving metrics at http://127.0.0.1:")
        .unwrap_or_else(|| panic!("no metrics endpoint in the log\n{log}"));
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap()
}

pub fn has_line(log: &str, parts: &[&str]) -> bool {
    log.lines()
        .any(|line| parts.iter().all(|part| line.contains(part)))
}

/// The live child processes of `pid`, from every thread's
/// `/proc/<pid>/task/<tid>/children`, sorted.
pub fn children_of(pid: u32) -> Vec<u32> {
    let mut children = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return children;
    };
    for task in tasks.flatten() {
        let list = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        children.extend(
            list.split_whitespace()
                .filter_map(|p| p.parse::<u32>().ok()),
        );
    }
    children.retain(|&child| is_alive(child));
    children.sort_unstable();
    children
}

/// `binary` started as systemd starts a service it hands sockets to: `fd` as
/// descriptor 3, `LISTEN_FDS=1`, `LISTEN_FDNAMES=name` and `LISTEN_PID` its own pid (a
/// shell learns it and execs in place). `fd` must stay open until the spawn.
pub fn with_systemd_socket(binary: &str, fd: std::os::fd::RawFd, name: &str) -> Command {
    let mut command = Command::new("/bin/sh");
    command
        .arg("-c")
        .arg("LISTEN_PID=$$ exec \"$0\" \"$@\"")
        .arg(binary)
        .env("LISTEN_FDS", "1")
        .env("LISTEN_FDNAMES", name);
    // SAFETY: dup2 and fcntl are async-signal-safe and touch no memory of the parent.
    unsafe {
        command.pre_exec(move || {
            if fd == 3 {
                if libc::fcntl(3, libc::F_SETFD, 0) == -1 {
                    return Err(io::Error::last_os_error());
                }
            } else if libc::dup2(fd, 3) == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command
}

/// Whether `pid` is a process that has not exited (a zombie counts as exited).
pub fn is_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => false,
    }
}

/// Polls `done` until it holds, failing the test with `what` after [`HANG`].
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + HANG;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The pid a `MAINPID=` notification names.
pub fn main_pid(message: &str) -> u32 {
    message
        .lines()
        .find_map(|line| line.strip_prefix("MAINPID="))
        .and_then(|pid| pid.trim().parse().ok())
        .unwrap_or_else(|| panic!("no MAINPID in {message:?}"))
}

/// A successor a SIGUSR2 started (not this test's child): stopped when the test ends,
/// passed or not.
pub struct Successor(pub u32);

impl Successor {
    /// The successor a `MAINPID=` notification names.
    pub fn named_in(message: &str) -> Successor {
        Successor(main_pid(message))
    }

    pub fn terminate(&self) {
        let pid = rustix::process::Pid::from_raw(self.0 as i32).unwrap();
        let _ = rustix::process::kill_process(pid, Signal::TERM);
    }
}

impl Drop for Successor {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// The exit code, with a readable failure when a signal killed the process instead.
pub fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .unwrap_or_else(|| panic!("killed by signal {:?}", status.signal()))
}

fn open_terminal() -> (OwnedFd, OwnedFd) {
    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
    let master =
        openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).expect("openpt");
    grantpt(&master).expect("grantpt");
    unlockpt(&master).expect("unlockpt");
    let name = ptsname(&master, Vec::new()).expect("ptsname");
    let slave = rustix::fs::open(
        Path::new(name.to_str().expect("pty name")),
        rustix::fs::OFlags::RDWR | rustix::fs::OFlags::NOCTTY,
        rustix::fs::Mode::empty(),
    )
    .expect("open pty slave");
    assert!(slave.as_raw_fd() > 2);
    (master, slave)
}
pub mod etcd;
pub mod http;
pub mod load;
pub mod python;
pub mod tls;
