//! The environment marker that turns a re-executed program into one worker.
//!
//! The parent starts `/proc/self/exe` with `OSLO_WORKER` set to
//! `<service position>:<worker index>:<control fd>:<parent pid>:<threads>:<service name>`. The
//! worker reads it once, before any thread exists when `#[oslo::main]` runs it, and takes
//! it out of the environment so that processes the worker starts are not workers too.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::{Mutex, OnceLock, PoisonError};

use crate::error::{Error, Result};

/// The variable naming the service and worker a re-executed process runs.
pub(in crate::launcher) const WORKER_ENV: &str = "OSLO_WORKER";

/// Which worker this process is, and how it reaches its parent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(in crate::launcher) struct Marker {
    /// The service's position among the launcher's `launch_service` calls.
    pub service: usize,
    /// The worker's index within its service, from 0.
    pub worker: usize,
    /// The number of the worker's end of the control socket shared with the parent;
    /// the worker takes it over when it reads the marker.
    pub control: RawFd,
    /// The parent's pid, to tell whether the parent is still there.
    pub parent: i32,
    /// The worker's share of the machine's cores: how many threads its runtime runs
    /// unless the program says otherwise.
    pub threads: usize,
    /// The service's name, checked against the service found at `service`.
    pub name: String,
}

impl Marker {
    pub(in crate::launcher) fn encode(&self) -> String {
        format!(
            "{}:{}:{}:{}:{}:{}",
            self.service, self.worker, self.control, self.parent, self.threads, self.name
        )
    }

    pub(in crate::launcher) fn decode(text: &str) -> Option<Self> {
        let mut parts = text.splitn(6, ':');
        Some(Marker {
            service: parts.next()?.parse().ok()?,
            worker: parts.next()?.parse().ok()?,
            control: parts.next()?.parse().ok()?,
            parent: parts.next()?.parse().ok()?,
            threads: parts.next()?.parse().ok()?,
            name: parts.next()?.to_owned(),
        })
    }
}

/// The marker of this process: `None` in a process that is no worker, an error when
/// the variable is set but unusable (a worker must not start supervising instead).
static MARKER: OnceLock<Option<Result<Marker, String>>> = OnceLock::new();

/// The worker's end of the control socket, owned from the moment the marker is read:
/// borrowed for the configuration handover, then taken by the parent link.
static CONTROL: Mutex<Option<OwnedFd>> = Mutex::new(None);

pub(in crate::launcher) fn marker() -> Result<Option<&'static Marker>> {
    match MARKER.get_or_init(read) {
        None => Ok(None),
        Some(Ok(marker)) => Ok(Some(marker)),
        Some(Err(message)) => Err(Error::Launch(message.clone())),
    }
}

fn read() -> Option<Result<Marker, String>> {
    let text = std::env::var_os(WORKER_ENV)?;
    let text = text.to_string_lossy();
    let Some(marker) = Marker::decode(&text) else {
        return Some(Err(format!("invalid {WORKER_ENV} value '{text}'")));
    };
    // Processes the worker starts must not hold the parent's control socket open.
    match crate::fd::take_inherited_fd(marker.control) {
        Ok(control) => *CONTROL.lock().unwrap_or_else(PoisonError::into_inner) = Some(control),
        Err(err) => {
            return Some(Err(format!(
                "{WORKER_ENV} names descriptor {} that is not open: {err}",
                marker.control
            )));
        }
    }
    Some(Ok(marker))
}

/// Runs `f` on the control socket, still in this module's keeping: the parent link has
/// not taken it yet.
pub(super) fn with_control<T>(f: impl FnOnce(BorrowedFd<'_>) -> T) -> io::Result<T> {
    let control = CONTROL.lock().unwrap_or_else(PoisonError::into_inner);
    let control = control.as_ref().ok_or_else(not_kept)?;
    Ok(f(control.as_fd()))
}

/// Takes the control socket out of this module's keeping; only the first call gets it.
pub(super) fn take_control() -> io::Result<OwnedFd> {
    CONTROL
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
        .ok_or_else(not_kept)
}

fn not_kept() -> io::Error {
    io::Error::other("the control socket is not kept (no worker marker, or already taken)")
}

/// Reads the worker marker and the inherited sockets, then removes their variables.
///
/// # Safety
///
/// No other thread may read or write the environment while this runs.
pub(in crate::launcher) unsafe fn take_env() {
    MARKER.get_or_init(read);
    crate::net::init_inherited();
    // SAFETY: the caller promises that no other thread touches the environment now.
    unsafe {
        std::env::remove_var(WORKER_ENV);
        crate::net::remove_env();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_survives_encoding_and_names_may_hold_colons() {
        let marker = Marker {
            service: 2,
            worker: 3,
            control: 7,
            parent: 4242,
            threads: 2,
            name: "api:v2".to_owned(),
        };
        assert_eq!(Marker::decode(&marker.encode()), Some(marker));
    }

    #[test]
    fn a_garbled_marker_is_refused() {
        assert_eq!(Marker::decode("1:x:7:1:api"), None);
        assert_eq!(Marker::decode("1:2:7"), None);
        assert_eq!(Marker::decode("1:2:7:1:api"), None);
    }
}
