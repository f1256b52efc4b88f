//! A worker's side of its control socket: tells the parent when the worker is ready,
//! and ends the worker when the parent is gone.
//!
//! The parent holds the other end and never hands it to anyone, so when the parent dies,
//! even by SIGKILL, the worker reads end-of-file here. The kernel's parent-death signal
//! (SIGUSR2, set before exec) is the second way the news arrives.

use std::io::{self, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

use tokio::io::AsyncReadExt;

use super::marker::Marker;

/// The byte a worker sends when its services have started or been reset.
pub(in crate::launcher) const READY: u8 = b'R';

/// A worker's connection to its parent.
#[derive(Debug)]
pub(in crate::launcher) struct ParentLink {
    control: UnixStream,
    parent: i32,
}

impl ParentLink {
    /// Takes the control socket named by the marker. Called once per worker process.
    pub(in crate::launcher) fn take(marker: &Marker) -> io::Result<Self> {
        // SAFETY: the marker's descriptor was passed by the parent for this use alone,
        // checked open when the marker was read, and the launcher takes it only once.
        let control = UnixStream::from(unsafe { OwnedFd::from_raw_fd(marker.control) });
        control.set_nonblocking(true)?;
        Ok(ParentLink {
            control,
            parent: marker.parent,
        })
    }

    /// Whether the parent that started this worker is gone (the worker was adopted).
    pub(in crate::launcher) fn orphaned(&self) -> bool {
        rustix::process::getppid().map(|pid| pid.as_raw_pid()) != Some(self.parent)
    }

    /// Watches the control socket in a task of its own and exits the process with
    /// status 1 as soon as the parent is gone.
    pub(in crate::launcher) fn watch_parent(&self) -> io::Result<()> {
        let mut reader = tokio::net::UnixStream::from_std(self.control.try_clone()?)?;
        if self.orphaned() {
            parent_died();
        }
        tokio::spawn(async move {
            let mut buf = [0u8; 64];
            loop {
                match reader.read(&mut buf).await {
                    Ok(0) => parent_died(),
                    Ok(_) => {}
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                    Err(err) => {
                        tracing::error!(error = %err, "cannot read the control socket");
                        parent_died()
                    }
                }
            }
        });
        Ok(())
    }

    /// Tells the parent that this worker's services are up.
    pub(in crate::launcher) fn report_ready(&self) {
        if let Err(err) = (&self.control).write_all(&[READY]) {
            tracing::warn!(error = %err, "cannot tell the parent that this worker is ready");
        }
    }
}

/// What a worker does when its parent is gone: no graceful stop, nobody would wait for
/// it, and a new parent may already run the same services.
pub(in crate::launcher) fn parent_died() -> ! {
    tracing::error!(
        pid = std::process::id(),
        "parent process has died unexpectedly, exiting"
    );
    std::process::exit(1)
}
