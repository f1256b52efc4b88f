//! systemd's notify protocol: `READY=1`, `RELOADING=1`, `STOPPING=1` sent as datagrams to
//! the socket named by `NOTIFY_SOCKET` (`@name` for the abstract namespace).
//!
//! The socket is read once per process. [`forget_notify_socket_env`] takes it out of the
//! environment so that processes the service starts cannot notify in its name; the
//! process itself keeps notifying through the address it remembered. Failures are logged
//! at DEBUG and otherwise ignored: a service runs the same with or without systemd.

use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::OnceLock;

const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

static ADDRESS: OnceLock<Option<String>> = OnceLock::new();

fn address() -> Option<&'static str> {
    ADDRESS
        .get_or_init(|| std::env::var(NOTIFY_SOCKET).ok().filter(|a| !a.is_empty()))
        .as_deref()
}

/// Remembers `NOTIFY_SOCKET` for this process and removes it from the environment.
///
/// # Safety
///
/// No other thread may read or write the environment while this runs: call it at the
/// start of `main`, before any runtime or thread exists (`#[oslo::main]` does).
pub unsafe fn forget_notify_socket_env() {
    address();
    // SAFETY: the caller promises that no other thread touches the environment now.
    unsafe { std::env::remove_var(NOTIFY_SOCKET) };
}

/// Sends `state` (one or more `KEY=value` lines) to the notify socket, if there is one.
/// Returns whether a message was sent.
pub fn notify(state: &str) -> bool {
    let Some(address) = address() else {
        return false;
    };
    match send(address, state) {
        Ok(()) => true,
        Err(err) => {
            tracing::debug!(socket = address, error = %err, "systemd notification failed");
            false
        }
    }
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

fn send(address: &str, state: &str) -> io::Result<()> {
    let socket = UnixDatagram::unbound()?;
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
    fn a_missing_socket_is_an_error_not_a_panic() {
        assert!(send("/nonexistent/notify", "READY=1").is_err());
    }
}
