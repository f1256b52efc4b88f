//! Listening sockets shared by a launcher and its worker processes.
//!
//! [`listen`] binds a socket once, in the parent, and every worker the parent starts
//! inherits that very socket by file descriptor, so all workers accept on one port and
//! a worker that is replaced (or a reload's new generation) finds the port already
//! open. In a worker, `listen` returns the inherited socket instead of binding. When the
//! parent was itself started by systemd socket activation (`LISTEN_FDS`, `LISTEN_PID`,
//! `LISTEN_FDNAMES`), `listen` hands out the socket systemd passed under that name.
//!
//! A TCP socket moves when the configuration moves its address: the successor of an
//! upgrade binds the new address where its predecessor's socket is elsewhere, and a
//! parent whose server follows the configuration (`ServerBuilder::follow_address`)
//! binds it during the SIGHUP that changed it, so that the new generation of workers
//! inherits it. The old socket is closed once the processes that served on it were
//! asked to stop.

use std::collections::BTreeMap;
use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::Path;

use rustix::net;
use std::sync::{Mutex, OnceLock};

/// The variable naming the sockets a parent passes to its workers: `name=fd,…`.
pub(crate) const LISTEN_ENV: &str = "OSLO_LISTEN_FDS";

/// The variable naming, in the successor of a binary upgrade, the sockets its
/// predecessor had bound itself: `name,…`. They become the successor's own, to stop at
/// its final stop; the others stay systemd's.
pub(crate) const OWN_ENV: &str = "OSLO_LISTEN_OWN";

/// systemd's socket activation variables.
pub(crate) const SYSTEMD_ENV: [&str; 3] = ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"];

/// The first descriptor systemd passes.
const SD_LISTEN_FDS_START: RawFd = 3;

/// The most sockets taken from `LISTEN_FDS`, whatever it says.
const MAX_SYSTEMD_FDS: RawFd = 4096;

/// Every socket this process shares with its workers, by name.
static SOCKETS: OnceLock<Mutex<BTreeMap<String, OwnedFd>>> = OnceLock::new();

/// The names of the sockets this process bound itself (not inherited from a parent or
/// from systemd).
/// Sockets of this process that go on listening at the final stop: the health probes'
/// answer through a drain.
static LISTENING_TO_THE_END: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Keeps the socket named `name` listening at the final stop, when
/// [`refuse_new_connections`] closes the others: the health probes say "stopping"
/// through a drain instead of refusing the connection, which a liveness probe would
/// take for a dead process.
pub(crate) fn listen_to_the_end(name: &str) {
    LISTENING_TO_THE_END
        .lock()
        .unwrap_or_else(|poison| poison.into_inner())
        .push(name.to_owned());
}

static BOUND_HERE: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Whether this process is a worker: it inherited its sockets from a parent, which
/// binds (and moves) them. An upgrade's successor inherits them too, but as the top
/// process it binds and moves its own.
static IS_WORKER: OnceLock<bool> = OnceLock::new();

/// Sockets an upgrade's predecessor handed over as this process's own, not yet asked
/// for: the first `listen` under such a name may move it. Any later one in the same run
/// asks for a second socket under a name already taken.
static FROM_PREDECESSOR: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Sockets bound for the reload under way, put in place once it is accepted.
static MOVING: Mutex<BTreeMap<String, OwnedFd>> = Mutex::new(BTreeMap::new());

/// Sockets whose address moved, closed once those serving on them were asked to stop.
static RETIRED: Mutex<Vec<(String, OwnedFd)>> = Mutex::new(Vec::new());

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

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
    listen_with_backlog(name, addr, DEFAULT_BACKLOG)
}

/// The backlog of [`listen`]: oslo.service's default.
pub const DEFAULT_BACKLOG: u32 = 128;

/// [`listen`] with the length of the queue of connections not yet accepted. The socket
/// is bound with `SO_REUSEADDR`, as oslo.service binds it, so that a restarted service
/// binds its port again while old connections linger in `TIME_WAIT`. The backlog only
/// matters where the socket is bound, not where it is inherited.
pub fn listen_with_backlog(
    name: &str,
    addr: impl ToSocketAddrs,
    backlog: u32,
) -> io::Result<TcpListener> {
    let wanted: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
    let fd = shared_or_bind(name, Some(&wanted), || bind_tcp(&wanted, backlog))?;
    let listener = TcpListener::from(fd);
    listener
        .local_addr()
        .map_err(|err| not_this_kind(name, "TCP", err))?;
    Ok(listener)
}

/// Binds a UNIX stream socket named `name` at `path`, with the file's permissions set to
/// `mode` (`0o600`: only this user connects), or returns the one already shared under
/// that name, as [`listen`] does for TCP.
///
/// A socket file left at `path` by a process that is gone is removed first; a socket
/// some process still listens on is an error (`AddrInUse`), as is any other file there
/// (never removed). The mode is the socket's from the moment its file exists.
///
/// ```no_run
/// # fn demo() -> std::io::Result<()> {
/// let listener = oslo::net::listen_unix("api", "/run/api/api.sock".as_ref(), 0o660, 128)?;
/// # Ok(()) }
/// ```
pub fn listen_unix(name: &str, path: &Path, mode: u32, backlog: u32) -> io::Result<UnixListener> {
    let fd = shared_or_bind(name, None, || bind_unix(path, mode, backlog))?;
    let listener = UnixListener::from(fd);
    listener
        .local_addr()
        .map_err(|err| not_this_kind(name, "UNIX", err))?;
    Ok(listener)
}

fn not_this_kind(name: &str, kind: &str, err: io::Error) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("inherited socket '{name}' is not a {kind} socket: {err}"),
    )
}

/// Whether a socket named `name` is already shared in this process: inherited from the
/// parent or systemd, or bound by an earlier call. The HTTP server logs where it
/// listens only where the socket is new.
pub fn is_shared(name: &str) -> bool {
    sockets()
        .lock()
        .unwrap_or_else(|poison| poison.into_inner())
        .contains_key(name)
}

/// The socket shared under `name`, or a new one from `bind`, then shared. A TCP socket
/// shared at another address than `wanted` is bound anew where this process may move
/// it (see [`movable`]); elsewhere the shared one is kept, and the difference said.
fn shared_or_bind(
    name: &str,
    wanted: Option<&[SocketAddr]>,
    bind: impl FnOnce() -> io::Result<OwnedFd>,
) -> io::Result<OwnedFd> {
    if name.is_empty() || name.contains(['=', ',', ':']) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid socket name '{name}': it must be non-empty, without '=', ',' or ':'"),
        ));
    }
    let mut sockets = lock(sockets());
    if let Some(fd) = sockets.get(name) {
        let handed_over = {
            let mut handed = lock(&FROM_PREDECESSOR);
            let at = handed.iter().position(|own| own == name);
            at.map(|at| handed.swap_remove(at)).is_some()
        };
        let Some(wanted) = wanted.filter(|wanted| !is_at(fd, wanted)) else {
            return fd.try_clone();
        };
        if movable(name) && !handed_over {
            // Bound by this very run: a second server under the same name.
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!(
                    "socket '{name}' is already bound at {} in this process; give the other one a name of its own",
                    local_address(fd)
                ),
            ));
        }
        if !movable(name) {
            tracing::warn!(
                socket = name,
                at = %local_address(fd),
                configured = %shown(wanted),
                "the socket stays where it is: its parent (or systemd) bound it there"
            );
            return fd.try_clone();
        }
        let fresh = bind()?;
        tracing::info!(socket = name, from = %local_address(fd), to = %local_address(&fresh), "listening socket moved");
        let old = sockets.insert(name.to_owned(), fresh.try_clone()?);
        lock(&RETIRED).extend(old.map(|old| (name.to_owned(), old)));
        return Ok(fresh);
    }
    let fd = bind()?;
    tracing::debug!(socket = name, "bound a shared socket");
    sockets.insert(name.to_owned(), fd.try_clone()?);
    lock(&BOUND_HERE).push(name.to_owned());
    Ok(fd)
}

/// Whether this process may move the socket `name` to another address: it is the top
/// process (not a worker), and the socket is its own, not systemd's.
fn movable(name: &str) -> bool {
    !IS_WORKER.get().copied().unwrap_or(false) && lock(&BOUND_HERE).iter().any(|own| own == name)
}

/// Whether `fd` listens at one of the `wanted` addresses (port 0: any port).
fn is_at(fd: &OwnedFd, wanted: &[SocketAddr]) -> bool {
    let Ok(Some(local)) = tcp_address(fd) else {
        // Not a TCP socket: nothing to compare (the caller says what kind it wants).
        return true;
    };
    wanted
        .iter()
        .any(|want| want.ip() == local.ip() && (want.port() == 0 || want.port() == local.port()))
}

fn tcp_address(fd: &OwnedFd) -> io::Result<Option<SocketAddr>> {
    let addr = net::getsockname(fd)?;
    Ok(match addr.address_family() {
        net::AddressFamily::INET | net::AddressFamily::INET6 => {
            Some(SocketAddr::try_from(addr).map_err(io::Error::from)?)
        }
        _ => None,
    })
}

fn local_address(fd: &OwnedFd) -> String {
    match tcp_address(fd) {
        Ok(Some(addr)) => addr.to_string(),
        _ => "?".to_owned(),
    }
}

fn shown(addrs: &[SocketAddr]) -> String {
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" or ")
}

/// For a reload's check: binds the TCP socket `name` at `wanted` when it listens
/// elsewhere, to be put in place by [`apply_moves`] once the reload is accepted (or
/// dropped by [`discard_moves`]). Nothing happens in a worker, nor for a socket this
/// process may not move (said in the log). An address that cannot be bound is the
/// error that refuses the reload.
#[cfg_attr(not(feature = "http"), allow(dead_code))]
pub(crate) fn prepare_move(name: &str, wanted: &[SocketAddr], backlog: u32) -> io::Result<()> {
    let sockets = lock(sockets());
    let Some(fd) = sockets.get(name) else {
        return Ok(());
    };
    if IS_WORKER.get().copied().unwrap_or(false) || is_at(fd, wanted) {
        lock(&MOVING).remove(name);
        return Ok(());
    }
    if !movable(name) {
        tracing::warn!(socket = name, at = %local_address(fd), configured = %shown(wanted), "the socket stays where it is: systemd bound it there");
        return Ok(());
    }
    // The caller names the address: the error is the system's alone.
    let fresh = bind_tcp(wanted, backlog)?;
    lock(&MOVING).insert(name.to_owned(), fresh);
    Ok(())
}

/// The reload was accepted: the sockets bound by [`prepare_move`] replace the old ones,
/// which are retired.
pub(crate) fn apply_moves() {
    let moving = std::mem::take(&mut *lock(&MOVING));
    let mut sockets = lock(sockets());
    for (name, fresh) in moving {
        tracing::info!(socket = %name, to = %local_address(&fresh), "listening socket moved: the new workers listen there");
        if let Some(old) = sockets.insert(name.clone(), fresh) {
            lock(&RETIRED).push((name, old));
        }
    }
}

/// A new descriptor of the TCP socket shared under `name` now, and its address; `None`
/// when no TCP socket is shared under that name.
#[cfg_attr(not(feature = "http"), allow(dead_code))]
pub(crate) fn shared_tcp(name: &str) -> io::Result<Option<(TcpListener, SocketAddr)>> {
    let sockets = lock(sockets());
    let Some(fd) = sockets.get(name) else {
        return Ok(None);
    };
    let Some(addr) = tcp_address(fd)? else {
        return Ok(None);
    };
    Ok(Some((TcpListener::from(fd.try_clone()?), addr)))
}

/// The reload was refused: the sockets bound for it are closed.
pub(crate) fn discard_moves() {
    lock(&MOVING).clear();
}

/// Closes the sockets whose address moved, now that the processes that served on them
/// were asked to stop: a client that connects there is refused at once, rather than
/// left in a backlog no one accepts from.
pub(crate) fn close_retired() {
    for (name, old) in std::mem::take(&mut *lock(&RETIRED)) {
        let _ = net::shutdown(&old, net::Shutdown::Read);
        tracing::info!(socket = %name, at = %local_address(&old), "old listening socket closed");
    }
}

/// Stops the TCP sockets this process bound from listening, for every process that
/// shares them: a client that connects from now on is refused at once, instead of
/// waiting in a backlog that no one will accept from any more, to be reset when the
/// process exits. For the final stop only (a reload keeps them). Sockets inherited from
/// systemd are left alone: systemd keeps them and queues clients for the next start.
pub(crate) fn refuse_new_connections() {
    let to_the_end = LISTENING_TO_THE_END
        .lock()
        .unwrap_or_else(|poison| poison.into_inner())
        .clone();
    let bound_here: Vec<String> = BOUND_HERE
        .lock()
        .unwrap_or_else(|poison| poison.into_inner())
        .iter()
        .filter(|name| !to_the_end.contains(name))
        .cloned()
        .collect();
    let sockets = sockets()
        .lock()
        .unwrap_or_else(|poison| poison.into_inner());
    for name in bound_here {
        let Some(fd) = sockets.get(&name) else {
            continue;
        };
        let is_tcp = matches!(
            net::getsockname(fd).map(|addr| addr.address_family()),
            Ok(net::AddressFamily::INET | net::AddressFamily::INET6)
        );
        if !is_tcp {
            continue;
        }
        match net::shutdown(fd, net::Shutdown::Read) {
            Ok(()) => tracing::debug!(socket = %name, "no longer listening"),
            Err(err) => tracing::debug!(socket = %name, error = %err, "cannot stop listening"),
        }
    }
}

fn backlog_arg(backlog: u32) -> io::Result<i32> {
    if backlog == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the backlog of a listening socket must be at least 1",
        ));
    }
    Ok(i32::try_from(backlog).unwrap_or(i32::MAX))
}

fn bind_tcp(addrs: &[SocketAddr], backlog: u32) -> io::Result<OwnedFd> {
    let backlog = backlog_arg(backlog)?;
    let mut last_error = None;
    for &addr in addrs {
        let family = match addr {
            SocketAddr::V4(_) => net::AddressFamily::INET,
            SocketAddr::V6(_) => net::AddressFamily::INET6,
        };
        let bound = (|| {
            let fd = net::socket_with(
                family,
                net::SocketType::STREAM,
                net::SocketFlags::CLOEXEC,
                None,
            )?;
            net::sockopt::set_socket_reuseaddr(&fd, true)?;
            net::bind(&fd, &addr)?;
            net::listen(&fd, backlog)?;
            Ok::<_, rustix::io::Errno>(fd)
        })();
        match bound {
            Ok(fd) => return Ok(fd),
            Err(err) => last_error = Some(io::Error::from(err)),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "the address resolved to nothing",
        )
    }))
}

fn bind_unix(path: &Path, mode: u32, backlog: u32) -> io::Result<OwnedFd> {
    let backlog = backlog_arg(backlog)?;
    let (fd, _) = bind_unix_socket(path, mode)?;
    net::listen(&fd, backlog)?;
    Ok(fd)
}

/// The identity of a socket file this process created: removed at the end only if the
/// path still names that very file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SocketFile {
    dev: u64,
    ino: u64,
}

impl SocketFile {
    /// Removes `path` if it is still this socket file; anything else there stays.
    pub(crate) fn remove(self, path: &Path) {
        use std::os::unix::fs::MetadataExt;
        if std::fs::symlink_metadata(path).is_ok_and(|meta| {
            meta.file_type().is_socket() && (meta.dev(), meta.ino()) == (self.dev, self.ino)
        }) {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A UNIX stream socket bound at `path` (not yet listening) whose file has `mode`, and
/// the identity of that file. Nothing at `path` is removed unless it is a socket that
/// no process answers on (a stale one); any other file there is an error naming it.
/// The mode is given to the socket before `bind` creates the file, and any bit the
/// umask took is put back through a descriptor of the file checked to be that socket:
/// no path is followed that another user could have swapped for a symlink.
pub(crate) fn bind_unix_socket(path: &Path, mode: u32) -> io::Result<(OwnedFd, SocketFile)> {
    use std::os::unix::fs::MetadataExt;
    remove_stale_socket(path)?;
    let fd = net::socket_with(
        net::AddressFamily::UNIX,
        net::SocketType::STREAM,
        net::SocketFlags::CLOEXEC,
        None,
    )?;
    let mode = rustix::fs::Mode::from_raw_mode(mode & 0o7777);
    // On Linux, bind gives the file the socket's own mode, less the umask.
    rustix::fs::fchmod(&fd, mode)?;
    net::bind(&fd, &net::SocketAddrUnix::new(path)?).map_err(|err| {
        io::Error::new(
            io::Error::from(err).kind(),
            format!("cannot bind a socket at {}: {err}", path.display()),
        )
    })?;
    let file = rustix::fs::open(
        path,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?;
    let stat = rustix::fs::fstat(&file)?;
    let is_socket =
        rustix::fs::FileType::from_raw_mode(stat.st_mode) == rustix::fs::FileType::Socket;
    if !is_socket || stat.st_uid != rustix::process::geteuid().as_raw() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{} was replaced while it was bound", path.display()),
        ));
    }
    if stat.st_mode & 0o7777 != mode.bits() {
        // An O_PATH descriptor takes no fchmod; its /proc link names that very inode.
        let link = format!("/proc/self/fd/{}", file.as_raw_fd());
        std::fs::set_permissions(&link, std::fs::Permissions::from_mode(mode.bits()))?;
    }
    let meta = std::fs::symlink_metadata(path)?;
    Ok((
        fd,
        SocketFile {
            dev: meta.dev(),
            ino: meta.ino(),
        },
    ))
}

/// Makes room at `path` for a new socket: nothing there, or a socket file no process
/// answers on (removed). A socket in use is `AddrInUse`; any other file, or a symlink,
/// is an error naming it, and stays as it is.
pub(crate) fn remove_stale_socket(path: &Path) -> io::Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err),
    };
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "{} exists and is not a socket; it is left as it is (remove it, or choose another path)",
                path.display()
            ),
        ));
    }
    match std::os::unix::net::UnixStream::connect(path) {
        Err(err) if err.kind() == io::ErrorKind::ConnectionRefused => {
            tracing::info!(path = %path.display(), "removing a stale socket file");
            std::fs::remove_file(path)
        }
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("{} is a socket another process listens on", path.display()),
        )),
        Err(err) => Err(io::Error::new(
            err.kind(),
            format!(
                "{} is a socket that cannot be checked: {err}",
                path.display()
            ),
        )),
    }
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

/// The names of the sockets this process bound itself, as the value of [`OWN_ENV`].
pub(crate) fn own_names() -> String {
    BOUND_HERE
        .lock()
        .unwrap_or_else(|poison| poison.into_inner())
        .join(",")
}

/// The sockets this process bound itself, by name, each as a new descriptor of the same
/// socket: what it may keep in systemd's file descriptor store.
pub(crate) fn own_sockets() -> Vec<(String, OwnedFd)> {
    let names = BOUND_HERE
        .lock()
        .unwrap_or_else(|poison| poison.into_inner())
        .clone();
    let sockets = sockets()
        .lock()
        .unwrap_or_else(|poison| poison.into_inner());
    names
        .into_iter()
        .filter_map(|name| {
            let fd = sockets.get(&name)?.try_clone().ok()?;
            Some((name, fd))
        })
        .collect()
}

/// Removes the variables naming inherited sockets.
///
/// # Safety
///
/// No other thread may read or write the environment while this runs.
pub(crate) unsafe fn remove_env() {
    for name in [LISTEN_ENV, OWN_ENV].into_iter().chain(SYSTEMD_ENV) {
        // SAFETY: the caller promises that no other thread touches the environment.
        unsafe { std::env::remove_var(name) };
    }
}

fn inherited() -> BTreeMap<String, OwnedFd> {
    let _ = IS_WORKER
        .set(std::env::var_os(LISTEN_ENV).is_some() && std::env::var_os(OWN_ENV).is_none());
    let mut found = BTreeMap::new();
    for (name, fd) in from_parent().into_iter().chain(from_systemd()) {
        // The parent (or systemd) passed it for this socket alone; it is taken once,
        // here, and kept from the service's own child processes (workers get it
        // explicitly).
        match crate::fd::take_inherited_fd(fd) {
            Ok(owned) => {
                found.insert(name, owned);
            }
            Err(err) => {
                tracing::warn!(socket = %name, fd, error = %err, "ignoring an inherited socket that is not open");
            }
        }
    }
    // A binary upgrade's predecessor hands over the sockets it bound as this process's.
    if let Some(own) = std::env::var_os(OWN_ENV) {
        let mut bound_here = BOUND_HERE
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        for name in own.to_string_lossy().split(',') {
            if found.contains_key(name) {
                bound_here.push(name.to_owned());
                lock(&FROM_PREDECESSOR).push(name.to_owned());
            }
        }
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
    // The environment may say anything: no more than a process can hold open.
    (0..count.clamp(0, MAX_SYSTEMD_FDS))
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
        // A count from the environment is bounded before it is used.
        assert_eq!(systemd_names(RawFd::MAX, None).len(), 4096);
        assert!(systemd_names(-5, None).is_empty());
    }

    #[test]
    fn a_second_listen_under_one_name_shares_the_socket() {
        let first = listen("unit-test", "127.0.0.1:0").unwrap();
        let at = first.local_addr().unwrap();
        // Any port, or the very one: the same socket.
        let second = listen("unit-test", "127.0.0.1:0").unwrap();
        assert_eq!(second.local_addr().unwrap(), at);
        let third = listen("unit-test", at).unwrap();
        assert_eq!(third.local_addr().unwrap(), at);
        assert!(listen("bad,name", "127.0.0.1:0").is_err());
    }

    #[test]
    fn a_top_process_moves_its_own_socket_and_closes_the_old_one_when_told() {
        let first = listen("unit-test-moved", "127.0.0.1:0").unwrap();
        let old = first.local_addr().unwrap();
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let new = free.local_addr().unwrap();
        drop(free);
        // A second socket under a name this run bound: refused, not moved.
        let err = listen("unit-test-moved", new).unwrap_err();
        assert!(err.to_string().contains("already bound"), "{err}");
        // A reload that moves it: bound first, put in place once accepted.
        prepare_move("unit-test-moved", &[new], 16).unwrap();
        apply_moves();
        // Still listening until the processes on it were asked to stop.
        assert!(std::net::TcpStream::connect(old).is_ok());
        close_retired();
        let refused = std::net::TcpStream::connect(old)
            .is_err_and(|err| err.kind() == io::ErrorKind::ConnectionRefused);
        assert!(refused, "{old} still accepts");
        assert_eq!(shared_tcp("unit-test-moved").unwrap().unwrap().1, new);
    }
}
