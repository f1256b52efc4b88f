//! A binary upgrade (SIGUSR2 to a launcher's top process, as nginx and gunicorn do).
//!
//! The predecessor starts the executable now on disk at the path it was itself started
//! from (resolved at start: `/proc/self/exe` would run the old inode again), with the
//! same arguments, and hands it every listening socket it shares (its own and
//! systemd's) as it hands them to workers. The successor starts as any start does
//! (its configuration, its services, its workers); once ready it takes over as
//! systemd's main process (`MAINPID=`, then `READY=1`) and says so on the link the
//! predecessor gave it. The predecessor then tells systemd nothing more, lets its
//! services or workers drain as on SIGTERM (without closing the shared sockets, which
//! the successor accepts on) and exits 0. Until then both serve.
//!
//! With `--pid-file PATH`, the successor writes its pid there once ready, and the
//! predecessor then writes its own to `PATH.oldbin`, removed at its exit.
//!
//! A successor that exits, or is not ready within `graceful_shutdown_timeout`, is
//! killed; the predecessor logs why and serves on, as if nothing happened.

use std::io::{self, Write};
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, WaitOptions, WaitStatus};
use tokio::io::AsyncReadExt;

use crate::net::{self, LISTEN_ENV, OWN_ENV};
use crate::systemd;

/// In a successor: the descriptor of its link to the predecessor.
const PREDECESSOR_ENV: &str = "OSLO_UPGRADE_FD";

/// What a successor writes on the link once it is ready.
const READY: &[u8] = b"ready\n";

/// How long a successor that closed its link has to be reaped before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(1);

/// The executable's path as this process was started from it.
static START_PATH: OnceLock<Option<PathBuf>> = OnceLock::new();

/// In a successor, until it is ready: its link to the predecessor.
static PREDECESSOR: Mutex<Option<UnixStream>> = Mutex::new(None);

/// Remembers the executable's path, and takes the link to a predecessor out of the
/// environment.
///
/// # Safety
///
/// No other thread may read or write the environment while this runs.
pub(super) unsafe fn take_env() {
    START_PATH.get_or_init(|| {
        let path = std::fs::read_link("/proc/self/exe").ok()?;
        // Replaced before this ran: the name is still the one to run next time.
        let text = path.to_string_lossy();
        Some(match text.strip_suffix(" (deleted)") {
            Some(name) => PathBuf::from(name),
            None => path,
        })
    });
    let Some(value) = std::env::var_os(PREDECESSOR_ENV) else {
        return;
    };
    // SAFETY: the caller promises that no other thread touches the environment now.
    unsafe { std::env::remove_var(PREDECESSOR_ENV) };
    let Some(fd) = value.to_str().and_then(|v| v.parse::<RawFd>().ok()) else {
        return;
    };
    // The predecessor passed it for this link alone; it is taken once, here.
    let Ok(link) = crate::fd::take_inherited_fd(fd) else {
        return;
    };
    let link = UnixStream::from(link);
    *PREDECESSOR.lock().unwrap_or_else(PoisonError::into_inner) = Some(link);
}

/// Whether this process is a successor that has not said it is ready yet.
pub(super) fn has_predecessor() -> bool {
    PREDECESSOR
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .is_some()
}

/// In a successor, once it is ready (its services started, or all its workers), right
/// before it says `READY=1`: takes over as systemd's main process and tells the
/// predecessor, which then drains and exits. Does nothing anywhere else, or twice;
/// whether it did, for systemd's status.
pub(crate) fn announce_ready() -> bool {
    let link = PREDECESSOR
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    let Some(mut link) = link else {
        return false;
    };
    // Before the predecessor hears of it: it then moves its own pid to `PATH.oldbin`.
    crate::pidfile::write_when_ready();
    systemd::notify(&format!("MAINPID={}", std::process::id()));
    match link.write_all(READY) {
        Ok(()) => tracing::info!("ready: the previous executable stops now"),
        Err(err) => tracing::warn!(error = %err, "cannot tell the previous executable"),
    }
    true
}

/// How an upgrade ended, for the predecessor.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    /// The successor is ready: this process drains and exits.
    Ready,
    /// The successor failed, and is gone; this process serves on.
    Failed(String),
}

/// A successor started by SIGUSR2, until it is ready or has failed.
#[derive(Debug)]
pub(super) struct Successor {
    pid: Pid,
    link: tokio::net::UnixStream,
    received: Vec<u8>,
    deadline: Option<Instant>,
}

impl Successor {
    /// Starts the executable at this process's start path with its arguments, the
    /// shared sockets and a link back; it has `ready_within` (none: no limit) to become
    /// ready.
    pub(super) fn start(ready_within: Option<Duration>) -> io::Result<Successor> {
        let path = START_PATH
            .get()
            .cloned()
            .flatten()
            .ok_or_else(|| io::Error::other("the path of this executable is unknown"))?;
        let (ours, theirs) = UnixStream::pair()?;
        let (sockets, mut inherit) = net::shared();
        inherit.push(theirs.as_raw_fd());
        let mut argv = std::env::args_os();
        let argv0 = argv.next().unwrap_or_else(|| path.clone().into_os_string());
        let mut command = Command::new(&path);
        command
            .arg0(argv0)
            .args(argv)
            .env(LISTEN_ENV, sockets)
            .env(OWN_ENV, net::own_names())
            .env(PREDECESSOR_ENV, theirs.as_raw_fd().to_string())
            .envs(systemd::successor_env());
        for name in net::SYSTEMD_ENV {
            command.env_remove(name);
        }
        // SAFETY: `inheritable` only calls fcntl, which is async-signal-safe, on
        // descriptors computed before the fork; it allocates nothing.
        unsafe {
            command.pre_exec(move || inheritable(&inherit));
        }
        let child = command.spawn()?;
        drop(theirs);
        ours.set_nonblocking(true)?;
        Ok(Successor {
            pid: Pid::from_child(&child),
            link: tokio::net::UnixStream::from_std(ours)?,
            received: Vec::new(),
            deadline: ready_within.map(|within| Instant::now() + within),
        })
    }

    /// The successor's process id.
    pub(super) fn pid(&self) -> i32 {
        self.pid.as_raw_pid()
    }

    /// Waits until the successor is ready or has failed; a successor that failed (it
    /// closed its link, or its time ran out) is killed and reaped. Cancel-safe: what
    /// was read is kept for the next call.
    pub(super) async fn outcome(&mut self) -> Outcome {
        let deadline = self.deadline;
        let timed_out = crate::future::sleep_until(deadline);
        tokio::pin!(timed_out);
        let mut buf = [0u8; 64];
        loop {
            tokio::select! {
                read = self.link.read(&mut buf) => match read {
                    Ok(0) | Err(_) => {
                        let how = self.reap(EXIT_GRACE).await;
                        return Outcome::Failed(format!("the new executable {how} before it was ready"));
                    }
                    Ok(n) => {
                        self.received.extend_from_slice(&buf[..n]);
                        if self.received.starts_with(READY) {
                            crate::pidfile::move_to_oldbin();
                            return Outcome::Ready;
                        }
                        if self.received.len() >= READY.len() {
                            self.kill();
                            return Outcome::Failed("the new executable answered nonsense".to_owned());
                        }
                    }
                },
                () = &mut timed_out => {
                    self.kill();
                    return Outcome::Failed(
                        "the new executable was not ready within graceful_shutdown_timeout; killed".to_owned(),
                    );
                }
            }
        }
    }

    /// Kills a successor no longer wanted (this process stops), and reaps it.
    pub(super) fn kill(&self) {
        let _ = rustix::process::kill_process(self.pid, Signal::KILL);
        let _ = rustix::process::waitpid(Some(self.pid), WaitOptions::empty());
    }

    /// How the successor ended, once it has (killed if it has not within `grace`).
    async fn reap(&self, grace: Duration) -> String {
        let until = Instant::now() + grace;
        loop {
            match rustix::process::waitpid(Some(self.pid), WaitOptions::NOHANG) {
                Ok(Some((_, status))) => return ended(status),
                Ok(None) if Instant::now() < until => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Ok(None) => {
                    self.kill();
                    return "closed its link to this process".to_owned();
                }
                Err(err) => return format!("is gone ({err})"),
            }
        }
    }
}

/// Waits for the outcome of the upgrade under way; never, when there is none.
pub(super) async fn outcome_of(successor: &mut Option<Successor>) -> Outcome {
    match successor {
        Some(successor) => successor.outcome().await,
        None => std::future::pending().await,
    }
}

/// `exited with status 1`, `was killed by signal 9`.
fn ended(status: WaitStatus) -> String {
    match (status.exit_status(), status.terminating_signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        (None, None) => "ended".to_owned(),
    }
}

/// Runs in the successor between fork and exec: the sockets and its end of the link
/// survive the exec.
fn inheritable(inherit: &[RawFd]) -> io::Result<()> {
    for &fd in inherit {
        // SAFETY: `fd` is open in the predecessor (a shared socket, or the successor's
        // end of the link, kept alive across the spawn), hence here too.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty())?;
    }
    Ok(())
}
