//! `--upgrade PID`: an upgrade asked by a deploy script (or systemd's `ExecReload=`),
//! which learns how it ended.
//!
//! A launcher's top process listens on an abstract UNIX socket named after its pid,
//! `oslo-upgrade/<pid>`. The command connects, checks that the process on the other end
//! is the one it names (the kernel's peer credentials), sends `upgrade`, and reads one
//! line: `ready <successor's pid>` once the new executable is ready (this process then
//! drains and exits), or `failed <reason>`. The top process takes a request only from
//! its own user or root, reads it within [`REQUEST_WITHIN`], and raises SIGUSR2 at
//! itself: a request and the signal are one upgrade.

use std::io::{self, Read, Write};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::process::ExitCode;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::io::AsyncReadExt;

use crate::future::AbortOnDrop;

/// What a request says.
const REQUEST: &[u8] = b"upgrade\n";

/// How long a client has to send its request once connected.
const REQUEST_WITHIN: Duration = Duration::from_secs(5);

/// The longest answer read by the command.
const MAX_ANSWER: u64 = 4096;

/// Requests read and not yet taken by an upgrade, and those of the upgrade under way.
static ASKED: Mutex<Vec<UnixStream>> = Mutex::new(Vec::new());
static UNDER_WAY: Mutex<Vec<UnixStream>> = Mutex::new(Vec::new());

fn socket_name(pid: u32) -> String {
    format!("oslo-upgrade/{pid}")
}

/// Listens for upgrade requests, for as long as the returned task is kept. Without the
/// socket (its name taken), SIGUSR2 still upgrades; the log says so.
pub(super) fn listen() -> Option<AbortOnDrop> {
    let name = socket_name(std::process::id());
    let bound = SocketAddr::from_abstract_name(name.as_bytes())
        .and_then(|addr| UnixListener::bind_addr(&addr))
        .and_then(|listener| {
            listener.set_nonblocking(true)?;
            tokio::net::UnixListener::from_std(listener)
        });
    let listener = match bound {
        Ok(listener) => listener,
        Err(err) => {
            tracing::warn!(socket = %name, error = %err, "cannot take upgrade requests (--upgrade); SIGUSR2 still upgrades");
            return None;
        }
    };
    Some(AbortOnDrop(tokio::spawn(async move {
        loop {
            let Ok((client, _)) = listener.accept().await else {
                continue;
            };
            // Each on its own: a client that sends nothing holds no one else's request
            // (another user's is refused before anything is read).
            tokio::spawn(async move {
                if let Err(reason) = take_request(client).await {
                    tracing::warn!(%reason, "upgrade request refused");
                }
            });
        }
    })))
}

/// Reads one client's request; a good one waits for the next upgrade's outcome.
async fn take_request(mut client: tokio::net::UnixStream) -> Result<(), String> {
    let peer = rustix::net::sockopt::socket_peercred(&client).map_err(|err| err.to_string())?;
    let own = rustix::process::geteuid();
    if peer.uid != own && !peer.uid.is_root() {
        return Err(format!(
            "from user {} (process {}), neither this process's user nor root",
            peer.uid.as_raw(),
            peer.pid.as_raw_nonzero()
        ));
    }
    let mut request = [0u8; REQUEST.len()];
    match tokio::time::timeout(REQUEST_WITHIN, client.read_exact(&mut request)).await {
        Ok(Ok(_)) if request == REQUEST => {}
        Ok(_) => return Err("not an upgrade request".to_owned()),
        Err(_) => return Err("nothing asked in time".to_owned()),
    }
    let client = client.into_std().map_err(|err| err.to_string())?;
    // The answer is a line written at once; a client that does not read it loses it.
    client
        .set_nonblocking(true)
        .map_err(|err| err.to_string())?;
    lock(&ASKED).push(client);
    tracing::info!(
        client = peer.pid.as_raw_nonzero(),
        "upgrade asked (--upgrade)"
    );
    rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::USR2)
        .map_err(|err| err.to_string())
}

fn lock(waiting: &Mutex<Vec<UnixStream>>) -> std::sync::MutexGuard<'_, Vec<UnixStream>> {
    waiting.lock().unwrap_or_else(PoisonError::into_inner)
}

fn answer(waiting: &Mutex<Vec<UnixStream>>, line: &str) {
    for mut client in std::mem::take(&mut *lock(waiting)) {
        let _ = client.write_all(line.as_bytes());
    }
}

/// An upgrade started: the requests asked so far wait for its outcome.
pub(super) fn started() {
    let asked = std::mem::take(&mut *lock(&ASKED));
    lock(&UNDER_WAY).extend(asked);
}

/// No upgrade was started for the requests asked so far, for `reason`.
pub(super) fn refused(reason: &str) {
    answer(&ASKED, &format!("failed {reason}\n"));
    crate::systemd::notify_status(&format!("upgrade refused: {reason}"));
}

/// The upgrade under way ended: its successor `pid` is ready.
pub(super) fn succeeded(pid: Option<i32>) {
    let pid = pid.map_or_else(|| "?".to_owned(), |pid| pid.to_string());
    answer(&UNDER_WAY, &format!("ready {pid}\n"));
}

/// The upgrade under way failed, for `reason`.
pub(super) fn failed(reason: &str) {
    answer(&UNDER_WAY, &format!("failed {reason}\n"));
    crate::systemd::notify_status(&format!("upgrade failed: {reason}"));
}

/// `--upgrade PID`: asks process `pid` to upgrade and waits for the outcome, then for
/// that process to exit. 0 once the new executable is ready and the old one gone, 1
/// with the reason otherwise.
pub(crate) fn request(program: &str, pid: u32) -> ExitCode {
    match ask(pid) {
        Ok(successor) => {
            println!(
                "{program}: upgraded: process {successor} serves; waiting for process {pid} to finish its requests"
            );
            match wait_gone(pid) {
                Ok(()) => {
                    println!("{program}: process {pid} exited");
                    ExitCode::SUCCESS
                }
                Err(err) => {
                    eprintln!("{program}: cannot wait for process {pid}: {err}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(reason) => {
            eprintln!("{program}: upgrade of process {pid} failed: {reason}");
            ExitCode::FAILURE
        }
    }
}

/// Asks, and reads the answer: the successor's pid once it is ready.
fn ask(pid: u32) -> Result<String, String> {
    let not_taken = |err: io::Error| {
        format!(
            "it takes no upgrade requests ({err}): is it the top process of a running oslo-service program?"
        )
    };
    let addr = SocketAddr::from_abstract_name(socket_name(pid).as_bytes()).map_err(not_taken)?;
    let mut stream = UnixStream::connect_addr(&addr).map_err(not_taken)?;
    let peer = rustix::net::sockopt::socket_peercred(&stream).map_err(|err| err.to_string())?;
    let peer_pid = peer.pid.as_raw_nonzero().get().unsigned_abs();
    if peer_pid != pid {
        return Err(format!(
            "its upgrade socket is held by process {peer_pid}, not by it"
        ));
    }
    stream.write_all(REQUEST).map_err(|err| err.to_string())?;
    let mut answer = String::new();
    stream
        .take(MAX_ANSWER)
        .read_to_string(&mut answer)
        .map_err(|err| err.to_string())?;
    let answer = answer.lines().next().unwrap_or_default();
    if let Some(successor) = answer.strip_prefix("ready ") {
        return Ok(successor.to_owned());
    }
    match answer.strip_prefix("failed ") {
        Some(reason) => Err(reason.to_owned()),
        None if answer.is_empty() => Err("it closed the request without an answer".to_owned()),
        None => Err(format!("it answered {answer:?}")),
    }
}

/// Waits until process `pid` has exited (not only become a zombie: its parent reaps
/// it, and a pidfd is readable once it has exited).
fn wait_gone(pid: u32) -> io::Result<()> {
    let raw = i32::try_from(pid).map_err(|_| io::Error::other("no such pid"))?;
    let Some(pid) = rustix::process::Pid::from_raw(raw) else {
        return Err(io::Error::other("no such pid"));
    };
    let pidfd = match rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()) {
        Ok(fd) => fd,
        // Gone already.
        Err(rustix::io::Errno::SRCH) => return Ok(()),
        Err(err) => return Err(err.into()),
    };
    let mut fds = [rustix::event::PollFd::new(
        &pidfd,
        rustix::event::PollFlags::IN,
    )];
    loop {
        match rustix::event::poll(&mut fds, None) {
            Ok(_) => return Ok(()),
            Err(rustix::io::Errno::INTR) => {}
            Err(err) => return Err(err.into()),
        }
    }
}
