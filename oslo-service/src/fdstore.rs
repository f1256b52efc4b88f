//! The listening sockets this process bound, kept in systemd's file descriptor store
//! (`FileDescriptorStoreMax=`, which systemd tells in `FDSTORE`): a restart of the unit
//! or a crash of the launcher then refuses no connection. Clients wait in the socket's
//! backlog, and the next start takes the sockets back from `LISTEN_FDS` under their
//! names (`LISTEN_FDNAMES`), as [`crate::net::listen`] finds them.
//!
//! Each socket is sent once, with `FDSTORE=1` and `FDNAME=` its name; a socket that is
//! gone, or that another replaced under its name, is taken out with `FDSTOREREMOVE=1`
//! first. Sockets inherited from systemd are its own already and are not sent again. A
//! stored socket keeps listening at the final stop: its clients are the next start's.

use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::{net, systemd};

/// The longest name systemd takes (`FDNAME_MAX`).
const MAX_NAME: usize = 255;

/// What was stored, by name: the socket's identity (device and inode).
static STORED: Mutex<BTreeMap<String, (u64, u64)>> = Mutex::new(BTreeMap::new());

/// Offers systemd the sockets bound here that it does not hold yet, and takes back those
/// gone. Nothing without `FDSTORE`. Called whenever the launcher settles, after its
/// start and after each reload; it sends only what changed.
pub(crate) fn store_listeners() {
    let Some(max) = systemd::fd_store_max() else {
        return;
    };
    let current: BTreeMap<String, (std::os::fd::OwnedFd, (u64, u64))> = net::own_sockets()
        .into_iter()
        .filter_map(|(name, fd)| {
            let identity = identity(&fd)?;
            Some((name, (fd, identity)))
        })
        .collect();
    let mut stored = STORED.lock().unwrap_or_else(|poison| poison.into_inner());
    let gone: Vec<String> = stored
        .iter()
        .filter(|(name, id)| current.get(*name).is_none_or(|(_, now)| now != *id))
        .map(|(name, _)| name.clone())
        .collect();
    for name in gone {
        match systemd::notify_with_fds(&format!("FDSTOREREMOVE=1\nFDNAME={name}"), &[]) {
            Ok(()) => {
                tracing::info!(socket = %name, "listening socket taken out of systemd's file descriptor store")
            }
            Err(err) => {
                tracing::warn!(socket = %name, error = %err, "cannot take a socket out of systemd's file descriptor store")
            }
        }
        stored.remove(&name);
    }
    for (name, (fd, id)) in current {
        if stored.contains_key(&name) {
            continue;
        }
        if !valid_name(&name) {
            tracing::warn!(socket = %name, "not keeping a socket in systemd's file descriptor store: systemd takes names of at most 255 printable ASCII characters");
            continue;
        }
        if stored.len() >= max {
            static LOGGED: AtomicBool = AtomicBool::new(false);
            if !LOGGED.swap(true, Ordering::Relaxed) {
                tracing::warn!(socket = %name, max, "systemd's file descriptor store is full (FileDescriptorStoreMax=): this socket is not kept");
            }
            continue;
        }
        match systemd::notify_with_fds(&format!("FDSTORE=1\nFDNAME={name}"), &[fd.as_fd()]) {
            Ok(()) => {
                tracing::info!(socket = %name, "listening socket kept in systemd's file descriptor store");
                net::listen_to_the_end(&name);
                stored.insert(name, id);
            }
            Err(err) => {
                tracing::warn!(socket = %name, error = %err, "cannot keep a socket in systemd's file descriptor store")
            }
        }
    }
}

/// Which socket a descriptor is, whatever its number.
fn identity(fd: &impl AsFd) -> Option<(u64, u64)> {
    let stat = rustix::fs::fstat(fd).ok()?;
    Some((stat.st_dev, stat.st_ino))
}

/// What systemd takes as `FDNAME=`: 1 to 255 printable ASCII characters, no `:`.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| (b' '..=b'~').contains(&b) && b != b':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_systemd_takes() {
        assert!(valid_name("api"));
        assert!(valid_name("health probes"));
        assert!(valid_name(&"a".repeat(255)));
        for name in ["", "a:b", "tab\there", "é", &"a".repeat(256)] {
            assert!(!valid_name(name), "{name:?}");
        }
    }
}
