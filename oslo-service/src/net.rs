//! Listening sockets shared by a launcher and its worker processes.
//!
//! [`listen`] binds a socket once, in the parent, and every worker the parent starts
//! inherits that very socket by file descriptor, so all workers accept on one port and
//! a worker that is replaced (or a reload's new generation) finds the port already
//! open. In a worker, `listen` returns the inherited socket instead of binding. When the
//! parent was itself started by systemd socket activation (`LISTEN_FDS`, `LISTEN_PID`,
//! `LISTEN_FDNAMES`), `listen` hands out the socket systemd passed under that name.

use std::collections::BTreeMap;
use std::io;
use std::net::{TcpListener, ToSocketAddrs};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Mutex, OnceLock};

/// The variable naming the sockets a parent passes to its workers: `name=fd,…`.
pub(crate) const LISTEN_ENV: &str = "OSLO_LISTEN_FDS";

/// systemd's socket activation variables.
pub(crate) const SYSTEMD_ENV: [&str; 3] = ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"];

/// The first descriptor systemd passes.
const SD_LISTEN_FDS_START: RawFd = 3;

/// Every socket this process shares with its workers, by name.
static SOCKETS: OnceLock<Mutex<BTreeMap<String, OwnedFd>>> = OnceLock::new();

fn sockets() -> &'static Mutex<BTreeMap<String, OwnedFd>> {
    SOCKETS.get_or_init(|| Mutex::new(inherited()))
}

/// Binds a TCP listening socket named `name` on `addr`, or returns the one already
/// shared under that name: the parent's own in a worker process, systemd's under
/// socket activation, or the one an earlier call bound.
///
/// Call it where the parent and the re-executed workers both pass, such as in `main`
/// before launching, and hand the listener to the service:
///
/// ```no_run
/// # fn demo() -> std::io::Result<()> {
/// let listener = oslo::net::listen("api", "127.0.0.1:0")?;
/// println!("listening on {}", listener.local_addr()?);
/// // In an async service:
/// listener.set_nonblocking(true)?;
/// // let listener = tokio::net::TcpListener::from_std(listener)?;
/// # Ok(()) }
/// ```
///
/// Every returned listener is a new descriptor of one socket, so a port of 0 gives the
/// same free port to every worker. The socket's non-blocking mode is shared by all of
/// them. The name may not be empty nor hold `=`, `,` or `:`.
pub fn listen(name: &str, addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
    if name.is_empty() || name.contains(['=', ',', ':']) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid socket name '{name}': it must be non-empty, without '=', ',' or ':'"),
        ));
    }
    let mut sockets = sockets()
        .lock()
        .unwrap_or_else(|poison| poison.into_inner());
    if let Some(fd) = sockets.get(name) {
        let listener = TcpListener::from(fd.try_clone()?);
        listener.local_addr().map_err(|err| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("inherited socket '{name}' is not a TCP socket: {err}"),
            )
        })?;
        return Ok(listener);
    }
    let listener = TcpListener::bind(addr)?;
    tracing::debug!(socket = name, addr = ?listener.local_addr().ok(), "bound a shared socket");
    sockets.insert(name.to_owned(), OwnedFd::from(listener.try_clone()?));
    Ok(listener)
}

/// The shared sockets, as the value of [`LISTEN_ENV`] and the descriptors a worker must
/// inherit. The descriptors stay open as long as this process runs.
pub(crate) fn shared() -> (String, Vec<RawFd>) {
    let sockets = sockets()
        .lock()
        .unwrap_or_else(|poison| poison.into_inner());
    let env = sockets
        .iter()
        .map(|(name, fd)| format!("{name}={}", fd.as_raw_fd()))
        .collect::<Vec<_>>()
        .join(",");
    (env, sockets.values().map(AsRawFd::as_raw_fd).collect())
}

/// Takes the inherited sockets while the environment still names them.
pub(crate) fn init_inherited() {
    sockets();
}

/// Removes the variables naming inherited sockets.
///
/// # Safety
///
/// No other thread may read or write the environment while this runs.
pub(crate) unsafe fn remove_env() {
    for name in std::iter::once(LISTEN_ENV).chain(SYSTEMD_ENV) {
        // SAFETY: the caller promises that no other thread touches the environment.
        unsafe { std::env::remove_var(name) };
    }
}

fn inherited() -> BTreeMap<String, OwnedFd> {
    let mut found = BTreeMap::new();
    for (name, fd) in from_parent().into_iter().chain(from_systemd()) {
        // SAFETY: borrowed only for fcntl, which fails cleanly on a closed descriptor.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        // Keep it from the service's own child processes; workers get it explicitly.
        if let Err(err) = rustix::io::fcntl_setfd(borrowed, rustix::io::FdFlags::CLOEXEC) {
            tracing::warn!(socket = %name, fd, error = %err, "ignoring an inherited socket that is not open");
            continue;
        }
        // SAFETY: the parent (or systemd) passed this open descriptor to this process
        // for this socket alone, and it is taken exactly once, here.
        found.insert(name, unsafe { OwnedFd::from_raw_fd(fd) });
    }
    found
}

fn from_parent() -> Vec<(String, RawFd)> {
    let Some(value) = std::env::var_os(LISTEN_ENV) else {
        return Vec::new();
    };
    parse_shared(&value.to_string_lossy())
}

pub(crate) fn parse_shared(value: &str) -> Vec<(String, RawFd)> {
    value
        .split(',')
        .filter_map(|entry| {
            let (name, fd) = entry.split_once('=')?;
            Some((name.to_owned(), fd.parse().ok()?))
        })
        .collect()
}

fn from_systemd() -> Vec<(String, RawFd)> {
    let var = |name: &str| std::env::var(name).ok();
    let for_us = var("LISTEN_PID")
        .and_then(|pid| pid.parse::<i32>().ok())
        .is_some_and(|pid| pid == rustix::process::getpid().as_raw_pid());
    let Some(count) = var("LISTEN_FDS").and_then(|n| n.parse::<RawFd>().ok()) else {
        return Vec::new();
    };
    if !for_us {
        return Vec::new();
    }
    systemd_names(count, var("LISTEN_FDNAMES").as_deref())
}

/// systemd names unnamed sockets `unknown`; a socket with no name of its own is
/// offered under that name and under its position, `fd0`, `fd1`…
pub(crate) fn systemd_names(count: RawFd, names: Option<&str>) -> Vec<(String, RawFd)> {
    let mut names = names.unwrap_or_default().split(':');
    (0..count.max(0))
        .map(|i| {
            let name = names
                .next()
                .filter(|n| !n.is_empty() && *n != "unknown")
                .map_or_else(|| format!("fd{i}"), str::to_owned);
            (name, SD_LISTEN_FDS_START + i)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_sockets_are_named_descriptors() {
        assert_eq!(
            parse_shared("api=5,admin=6,garbage"),
            [("api".to_owned(), 5), ("admin".to_owned(), 6)]
        );
        assert!(parse_shared("").is_empty());
    }

    #[test]
    fn systemd_sockets_start_at_3_and_take_their_names() {
        assert_eq!(
            systemd_names(3, Some("api:unknown:admin")),
            [
                ("api".to_owned(), 3),
                ("fd1".to_owned(), 4),
                ("admin".to_owned(), 5)
            ]
        );
        assert_eq!(systemd_names(1, None), [("fd0".to_owned(), 3)]);
    }

    #[test]
    fn a_second_listen_under_one_name_shares_the_socket() {
        let first = listen("unit-test", "127.0.0.1:0").unwrap();
        let second = listen("unit-test", "127.0.0.1:1").unwrap();
        assert_eq!(first.local_addr().unwrap(), second.local_addr().unwrap());
        assert!(listen("bad,name", "127.0.0.1:0").is_err());
    }
}
