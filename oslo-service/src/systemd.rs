//! systemd's notify protocol: `READY=1`, `RELOADING=1`, `STOPPING=1`, `STATUS=`,
//! `WATCHDOG=1` and `EXTEND_TIMEOUT_USEC=` sent as datagrams to the socket named by
//! `NOTIFY_SOCKET` (`@name` for the abstract namespace), and `FDSTORE=1` with the
//! descriptors attached, when `FDSTORE` says systemd keeps some for the service.
//!
//! The socket is read once per process. `#[oslo::main]` takes it out of the
//! environment (with `WATCHDOG_USEC` and `WATCHDOG_PID`) so that processes the service
//! starts cannot notify in its name; the process itself keeps notifying through the
//! address it remembered. A notification never blocks: a socket whose queue is full (a
//! systemd busy or re-executing) or that is gone drops it, and the first such failure is
//! logged at DEBUG. A service runs the same with or without systemd.

use std::io;
use std::io::IoSlice;
use std::mem::MaybeUninit;
use std::os::fd::BorrowedFd;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";
const WATCHDOG_USEC: &str = "WATCHDOG_USEC";
const WATCHDOG_PID: &str = "WATCHDOG_PID";
/// How many descriptors systemd keeps for the service (`FileDescriptorStoreMax=`), set
/// since systemd 254.
const FDSTORE: &str = "FDSTORE";

/// The most descriptors this process offers to the store, whatever `FDSTORE` says.
const MAX_FD_STORE: u32 = 65536;

static ADDRESS: OnceLock<Option<String>> = OnceLock::new();
static WATCHDOG: OnceLock<Option<Duration>> = OnceLock::new();
static FD_STORE: OnceLock<Option<usize>> = OnceLock::new();

fn address() -> Option<&'static str> {
    ADDRESS
        .get_or_init(|| std::env::var(NOTIFY_SOCKET).ok().filter(|a| !a.is_empty()))
        .as_deref()
}

/// How often systemd expects `WATCHDOG=1` from this process: half of `WATCHDOG_USEC`,
/// when it is set and `WATCHDOG_PID` is unset or names this process.
pub fn watchdog_interval() -> Option<Duration> {
    *WATCHDOG.get_or_init(|| {
        let usec: u64 = std::env::var(WATCHDOG_USEC).ok()?.parse().ok()?;
        let ours = match std::env::var(WATCHDOG_PID) {
            Ok(pid) => pid.parse::<u32>().ok() == Some(std::process::id()),
            Err(_) => true,
        };
        (ours && usec > 0 && address().is_some()).then(|| Duration::from_micros(usec / 2))
    })
}

/// How many descriptors systemd keeps in the service's file descriptor store
/// (`FDSTORE`, bounded), when it keeps any and there is a notify socket to send them to.
pub(crate) fn fd_store_max() -> Option<usize> {
    *FD_STORE.get_or_init(|| {
        let max: u32 = std::env::var(FDSTORE).ok()?.trim().parse().ok()?;
        let max = usize::try_from(max.min(MAX_FD_STORE)).ok()?;
        (max > 0 && address().is_some()).then_some(max)
    })
}

/// Remembers `NOTIFY_SOCKET` for this process and removes it from the environment.
///
/// # Safety
///
/// No other thread may read or write the environment while this runs: call it at the
/// start of `main`, before any runtime or thread exists (`#[oslo::main]` does).
pub(crate) unsafe fn forget_notify_socket_env() {
    address();
    watchdog_interval();
    fd_store_max();
    // SAFETY: the caller promises that no other thread touches the environment now.
    unsafe {
        std::env::remove_var(NOTIFY_SOCKET);
        std::env::remove_var(WATCHDOG_USEC);
        std::env::remove_var(WATCHDOG_PID);
        std::env::remove_var(FDSTORE);
    }
}

/// Set once a binary upgrade's successor is systemd's main process: this one, draining,
/// says nothing more.
static HANDED_OVER: AtomicBool = AtomicBool::new(false);

/// What a binary upgrade's successor needs to reach systemd as this process does: the
/// notify socket and the watchdog's period (both were taken out of the environment).
pub(crate) fn successor_env() -> Vec<(&'static str, String)> {
    let mut env = Vec::new();
    if let Some(address) = address() {
        env.push((NOTIFY_SOCKET, address.to_owned()));
    }
    if let Some(half) = watchdog_interval() {
        env.push((WATCHDOG_USEC, (half.as_micros() * 2).to_string()));
    }
    if let Some(max) = fd_store_max() {
        env.push((FDSTORE, max.to_string()));
    }
    env
}

/// After a successor took over as systemd's main process: nothing more is sent from
/// here, neither the stop of this process nor its watchdog.
pub(crate) fn hand_over() {
    HANDED_OVER.store(true, Ordering::SeqCst);
}

/// Sends `state` (one or more `KEY=value` lines) to the notify socket, if there is one.
/// Returns whether a message was sent.
pub fn notify(state: &str) -> bool {
    let Some(address) = address() else {
        return false;
    };
    if HANDED_OVER.load(Ordering::SeqCst) {
        return false;
    }
    match send(address, state) {
        Ok(()) => true,
        Err(err) => {
            // Once: a systemd that stopped reading would otherwise fill the log.
            static LOGGED: AtomicBool = AtomicBool::new(false);
            if !LOGGED.swap(true, Ordering::Relaxed) {
                tracing::debug!(socket = address, error = %err, "systemd notification dropped");
            }
            false
        }
    }
}

/// Tells systemd what the service is doing, in words (`systemctl status` shows it).
pub fn notify_status(status: &str) -> bool {
    notify(&format!("STATUS={status}"))
}

/// Tells systemd's watchdog that the process is alive.
pub fn notify_watchdog() -> bool {
    notify("WATCHDOG=1")
}

/// Asks systemd to wait `by` longer than its own timeout for the current phase (a stop,
/// say) before it gives up on the service.
pub fn notify_extend_timeout(by: Duration) -> bool {
    notify(&format!("EXTEND_TIMEOUT_USEC={}", by.as_micros()))
}

/// Tells systemd that the service is up, and what it is doing (`STATUS=`).
pub fn notify_ready_with_status(status: &str) -> bool {
    notify(&format!("READY=1\nSTATUS={status}"))
}

/// Tells systemd that the service is up.
pub fn notify_ready() -> bool {
    notify("READY=1")
}

/// Tells systemd that the service is reloading its configuration; [`notify_ready`]
/// follows once it is done.
pub fn notify_reloading() -> bool {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let micros = now.tv_sec as u128 * 1_000_000 + now.tv_nsec as u128 / 1_000;
    notify(&format!("RELOADING=1\nMONOTONIC_USEC={micros}"))
}

/// Tells systemd that the service is stopping.
pub fn notify_stopping() -> bool {
    notify("STOPPING=1")
}

/// Sends `state` with `fds` attached (SCM_RIGHTS), as `FDSTORE=1` needs; never blocks.
/// An error when there is no notify socket, or after a hand-over to a successor.
pub(crate) fn notify_with_fds(state: &str, fds: &[BorrowedFd<'_>]) -> io::Result<()> {
    let address = address().ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))?;
    if HANDED_OVER.load(Ordering::SeqCst) {
        return Err(io::Error::from(io::ErrorKind::NotConnected));
    }
    send_with_fds(address, state, fds)
}

fn send_with_fds(address: &str, state: &str, fds: &[BorrowedFd<'_>]) -> io::Result<()> {
    use rustix::net::{
        AddressFamily, SendAncillaryBuffer, SendAncillaryMessage, SendFlags, SocketAddrUnix,
        SocketFlags, SocketType,
    };
    let socket = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )?;
    let target = match address.strip_prefix('@') {
        Some(name) => SocketAddrUnix::new_abstract_name(name.as_bytes())?,
        None => SocketAddrUnix::new(address)?,
    };
    // Room for the few descriptors one message carries.
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(8))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(fds)) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "too many descriptors for one notification",
        ));
    }
    rustix::net::sendmsg_addr(
        &socket,
        &target,
        &[IoSlice::new(state.as_bytes())],
        &mut control,
        SendFlags::NOSIGNAL,
    )?;
    Ok(())
}

fn send(address: &str, state: &str) -> io::Result<()> {
    let socket = UnixDatagram::unbound()?;
    // A full queue drops the message instead of stopping the caller.
    socket.set_nonblocking(true)?;
    let target = match address.strip_prefix('@') {
        Some(name) => SocketAddr::from_abstract_name(name.as_bytes())?,
        None => SocketAddr::from_pathname(address)?,
    };
    socket.send_to_addr(state.as_bytes(), &target)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_to_a_path_and_to_an_abstract_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let receiver = UnixDatagram::bind(&path).unwrap();
        send(path.to_str().unwrap(), "READY=1").unwrap();
        let mut buf = [0; 64];
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");

        let name = format!("oslo-test-{}", std::process::id());
        let receiver =
            UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap())
                .unwrap();
        send(&format!("@{name}"), "STOPPING=1").unwrap();
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1");
    }

    #[test]
    fn a_full_socket_drops_the_message_instead_of_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let _receiver = UnixDatagram::bind(&path).unwrap();
        let path = path.to_str().unwrap();
        // Nobody reads: the queue fills up, and then every send fails at once.
        let refused = (0..1000)
            .map(|_| send(path, "WATCHDOG=1"))
            .find_map(Result::err)
            .expect("the queue never filled");
        assert_eq!(refused.kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn a_descriptor_goes_with_its_message() {
        use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
        use std::os::fd::{AsFd, OwnedFd};

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let receiver = UnixDatagram::bind(&path).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        send_with_fds(
            path.to_str().unwrap(),
            "FDSTORE=1\nFDNAME=api",
            &[listener.as_fd()],
        )
        .unwrap();
        let mut buf = [0; 64];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let got = rustix::net::recvmsg(
            &receiver,
            &mut [io::IoSliceMut::new(&mut buf)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        )
        .unwrap();
        assert_eq!(&buf[..got.bytes], b"FDSTORE=1\nFDNAME=api");
        let fds: Vec<OwnedFd> = control
            .drain()
            .flat_map(|message| match message {
                RecvAncillaryMessage::ScmRights(fds) => fds.collect(),
                _ => Vec::new(),
            })
            .collect();
        assert_eq!(fds.len(), 1);
        // The very socket: it has the listener's address.
        let received = std::net::TcpListener::from(fds.into_iter().next().unwrap());
        assert_eq!(
            received.local_addr().unwrap(),
            listener.local_addr().unwrap()
        );
    }

    #[test]
    fn a_missing_socket_is_an_error_not_a_panic() {
        assert!(send("/nonexistent/notify", "READY=1").is_err());
    }
}
