//! The configuration a worker starts with: its parent's, handed over the control socket,
//! so that a worker started or respawned between two reloads runs on exactly the values
//! its siblings run on, whatever the files say by then.
//!
//! The parent writes two frames as soon as the worker is spawned, each its length (8
//! bytes, little-endian) then its bytes: the snapshot of its values, then its sources
//! (files, directories, environment prefix, command-line values) for the worker's own
//! reloads. The worker reads them before anything else, and so needs no command line.

use std::io;
use std::os::fd::BorrowedFd;

use super::marker::{marker, with_control};
use crate::config::{ConfigSources, Snapshot};
use crate::error::{Error, Result};

/// The frames that carry `snapshot` and `sources` (their `to_bytes`).
pub(in crate::launcher) fn handover_frame(snapshot: &[u8], sources: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(16 + snapshot.len() + sources.len());
    for part in [snapshot, sources] {
        frame.extend_from_slice(&(part.len() as u64).to_le_bytes());
        frame.extend_from_slice(part);
    }
    frame
}

/// In a worker, the values its parent runs on and where they come from; `None` in a
/// process that is no worker.
pub(crate) fn parent_values() -> Result<Option<(Snapshot, ConfigSources)>> {
    if marker()?.is_none() {
        return Ok(None);
    }
    let part = |control: BorrowedFd<'_>| -> io::Result<Vec<u8>> {
        let mut len = [0u8; 8];
        read_exact(control, &mut len)?;
        let len = usize::try_from(u64::from_le_bytes(len))
            .map_err(|_| io::Error::other("configuration too large"))?;
        let mut bytes = vec![0u8; len];
        read_exact(control, &mut bytes)?;
        Ok(bytes)
    };
    let garbled = || io::Error::other("garbled configuration");
    let received = |control: BorrowedFd<'_>| -> io::Result<(Snapshot, ConfigSources)> {
        let values = Snapshot::from_bytes(&part(control)?).ok_or_else(garbled)?;
        let sources = ConfigSources::from_bytes(&part(control)?).ok_or_else(garbled)?;
        Ok((values, sources))
    };
    // The parent link has not taken the control socket yet: it is borrowed for these reads.
    with_control(received)
        .and_then(|received| received)
        .map(Some)
        .map_err(|err| Error::io("cannot receive the configuration from the parent", err))
}

fn read_exact(fd: BorrowedFd<'_>, mut buf: &mut [u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match rustix::io::read(fd, &mut *buf) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => buf = &mut buf[n..],
            Err(rustix::io::Errno::INTR) => {}
            Err(err) => return Err(err.into()),
        }
    }
    Ok(())
}
