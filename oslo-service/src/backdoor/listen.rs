//! The console's listeners: a port on 127.0.0.1 or a UNIX socket, each serving only
//! this process's user and root, at most a few clients at once.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::net::{TcpListener, UnixListener};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::address::PortRange;
use super::{Views, peer, session};
use crate::error::{Error, Result};
use crate::net::SocketFile;

/// Clients served at once; more are told so and disconnected.
const MAX_CLIENTS: usize = 16;

/// The pause after an accept failed for want of descriptors or memory.
const ACCEPT_BACKOFF: std::time::Duration = std::time::Duration::from_millis(100);

/// Listens on the lowest free port of `range` until `stop`; the port.
pub(super) fn tcp(range: PortRange, views: &Arc<Views>, stop: &CancellationToken) -> Result<u16> {
    let listener = bind_port(range)?;
    let port = listener
        .local_addr()
        .map_err(|err| Error::io("backdoor address", err))?
        .port();
    tokio::spawn(accept_tcp(listener, Arc::clone(views), stop.clone()));
    Ok(port)
}

/// Listens on a UNIX socket at `path` until `stop`; the file made there.
pub(super) fn unix(
    path: &std::path::Path,
    views: &Arc<Views>,
    stop: &CancellationToken,
) -> Result<SocketFile> {
    let (listener, file) = bind_socket(path)?;
    tokio::spawn(accept_unix(listener, Arc::clone(views), stop.clone()));
    Ok(file)
}

/// The lowest port of the range that binds, on 127.0.0.1.
fn bind_port(range: PortRange) -> Result<TcpListener> {
    let mut last_error = None;
    for port in range.start..=range.end {
        match std::net::TcpListener::bind(("127.0.0.1", port)) {
            Ok(listener) => {
                let socket_error = |err| Error::io("backdoor socket", err);
                listener.set_nonblocking(true).map_err(socket_error)?;
                return TcpListener::from_std(listener).map_err(socket_error);
            }
            Err(err) => last_error = Some(err),
        }
    }
    Err(Error::io(
        format!(
            "backdoor cannot listen on any port of {}:{}",
            range.start, range.end
        ),
        last_error.unwrap_or_else(|| std::io::ErrorKind::AddrInUse.into()),
    ))
}

/// A UNIX socket at `path`, mode 0600; a stale socket there is replaced, anything else
/// is an error naming the path.
fn bind_socket(path: &std::path::Path) -> Result<(UnixListener, SocketFile)> {
    let bind_error = |err| Error::io(format!("backdoor cannot listen on {}", path.display()), err);
    let (fd, file) = crate::net::bind_unix_socket(path, 0o600).map_err(bind_error)?;
    rustix::net::listen(&fd, 16).map_err(|err| bind_error(err.into()))?;
    let listener = std::os::unix::net::UnixListener::from(fd);
    listener.set_nonblocking(true).map_err(bind_error)?;
    Ok((UnixListener::from_std(listener).map_err(bind_error)?, file))
}

async fn accept_tcp(listener: TcpListener, views: Arc<Views>, stop: CancellationToken) {
    let clients = Arc::new(Semaphore::new(MAX_CLIENTS));
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                back_off_after(&err).await;
                continue;
            }
        };
        // Only this user and root, as on the UNIX socket: any local user can reach a
        // port on 127.0.0.1, so the kernel's socket table says who connected.
        let Ok(us) = stream.local_addr() else {
            continue;
        };
        let uid = tokio::task::spawn_blocking(move || peer::tcp_peer_uid(us, peer))
            .await
            .ok()
            .and_then(Result::ok)
            .flatten();
        // Fail closed: a client whose socket is not open any more (it closed first)
        // cannot be told from another user's.
        let Some(uid) = uid else {
            tracing::warn!(%peer, "backdoor refused a client whose socket it cannot find open");
            continue;
        };
        if !is_allowed(Some(uid)) {
            tracing::warn!(uid, %peer, "backdoor refused a client of another user");
            continue;
        }
        let who = format!("{peer} uid={uid}");
        spawn_session(stream, who, &views, &clients);
    }
}

/// Whether a client of user `uid` may use the console: this process's user and root.
fn is_allowed(uid: Option<u32>) -> bool {
    let ours = rustix::process::geteuid().as_raw();
    matches!(uid, Some(uid) if uid == ours || uid == 0)
}

/// After a failed accept: out of descriptors (or memory) a retry at once fails again,
/// so wait a little, saying so once a second at most; other errors concern one client.
async fn back_off_after(err: &std::io::Error) {
    let exhausted = matches!(
        err.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    );
    if exhausted {
        static LAST_WARNING: Mutex<Option<std::time::Instant>> = Mutex::new(None);
        {
            let mut last = LAST_WARNING.lock().unwrap_or_else(PoisonError::into_inner);
            if last.is_none_or(|at| at.elapsed() >= std::time::Duration::from_secs(1)) {
                tracing::warn!(error = %err, "backdoor cannot accept a client; pausing");
                *last = Some(std::time::Instant::now());
            }
        }
        tokio::time::sleep(ACCEPT_BACKOFF).await;
    }
}

async fn accept_unix(listener: UnixListener, views: Arc<Views>, stop: CancellationToken) {
    let clients = Arc::new(Semaphore::new(MAX_CLIENTS));
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(err) => {
                back_off_after(&err).await;
                continue;
            }
        };
        // Only this user and root: the socket's mode says so too, but a socket in a
        // directory others can reach must not rely on the mode alone.
        let cred = stream.peer_cred().ok();
        let uid = cred.map(|cred| cred.uid());
        if !is_allowed(uid) {
            tracing::warn!(?uid, "backdoor refused a client of another user");
            continue;
        }
        let who = match cred.and_then(|cred| cred.pid()) {
            Some(pid) => format!("uid={} pid={pid}", uid.unwrap_or_default()),
            None => format!("uid={}", uid.unwrap_or_default()),
        };
        spawn_session(stream, who, &views, &clients);
    }
}

fn spawn_session<S>(mut stream: S, peer: String, views: &Arc<Views>, clients: &Arc<Semaphore>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let views = Arc::clone(views);
    match Arc::clone(clients).try_acquire_owned() {
        Ok(permit) => {
            tokio::spawn(async move {
                session::serve(stream, &views, &peer).await;
                drop(permit);
            });
        }
        Err(_) => {
            tokio::spawn(async move {
                use tokio::io::AsyncWriteExt;
                let message =
                    format!("error: too many console clients (at most {MAX_CLIENTS})\n\n");
                let _ = tokio::time::timeout(
                    std::time::Duration::from_secs(1),
                    stream.write_all(message.as_bytes()),
                )
                .await;
            });
        }
    }
}
