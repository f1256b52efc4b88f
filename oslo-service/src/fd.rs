//! Descriptors a process inherits by number (from its parent, systemd or an upgrade's
//! predecessor), taken over once.

use std::io;
use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// Takes over `fd`, inherited by number: kept from the process's own children
/// (CLOEXEC), then owned. Fails, taking nothing, when `fd` is not open.
///
/// The caller must call it once per inherited descriptor, for a number it was handed
/// for this use alone.
pub(crate) fn take_inherited_fd(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: borrowed only for fcntl, which fails cleanly on a closed descriptor.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    rustix::io::fcntl_setfd(borrowed, rustix::io::FdFlags::CLOEXEC)?;
    // SAFETY: `fd` is open (fcntl just succeeded on it), and was passed to this process
    // for this one use; each caller takes its number once, so nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
