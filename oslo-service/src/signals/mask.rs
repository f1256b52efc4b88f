//! The signal mask a thread (and a process across exec) starts with, and the daemon rule
//! that says what SIGHUP means.

use std::io;
use std::os::fd::AsFd;

/// Unblocks `raw` in the calling thread (threads started afterwards inherit its mask).
pub(super) fn unblock(raw: &[i32]) -> io::Result<()> {
    change_mask(libc::SIG_UNBLOCK, raw)
}

/// Blocks `raw` in the calling thread; a blocked signal waits, pending, and the mask
/// survives exec. Async-signal-safe: the launcher calls it between fork and exec.
pub(crate) fn block(raw: &[i32]) -> io::Result<()> {
    change_mask(libc::SIG_BLOCK, raw)
}

fn change_mask(how: libc::c_int, raw: &[i32]) -> io::Result<()> {
    // SAFETY: `set` is a local signal set, initialised by sigemptyset before use; the
    // calls only read and write it and the calling thread's signal mask, and allocate
    // nothing (so they may run between fork and exec).
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &signal in raw {
            libc::sigaddset(&mut set, signal);
        }
        match libc::pthread_sigmask(how, &set, std::ptr::null_mut()) {
            0 => Ok(()),
            errno => Err(io::Error::from_raw_os_error(errno)),
        }
    }
}

/// The daemon rule, as [`super::is_daemon`] states it.
pub(super) fn is_daemon() -> bool {
    let stdout = io::stdout();
    match rustix::termios::tcgetpgrp(stdout.as_fd()) {
        Ok(foreground) => foreground != rustix::process::getpgrp(),
        Err(rustix::io::Errno::NOTTY | rustix::io::Errno::BADF) => true,
        Err(err) => {
            tracing::debug!(error = %err, "cannot read the terminal's foreground group; taking this process for a daemon");
            true
        }
    }
}
