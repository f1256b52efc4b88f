//! The debug console (oslo.service's `eventlet_backdoor`), off unless `backdoor_port`
//! or `backdoor_socket` is set: a line protocol on localhost or on a 0600 UNIX socket
//! that an operator drives with `nc` or `socat` to ask a running process what it is
//! doing (`services`, `tasks`, `workers`, `conf`, `runtime`), change its log filter,
//! or run a periodic task now. Every launcher starts one for its process: a parent of
//! workers and each worker have their own.

mod address;
mod commands;
mod peer;
mod session;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use tokio::net::{TcpListener, UnixListener};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::net::SocketFile;
use crate::service::Context;
use address::Address;

/// Clients served at once; more are told so and disconnected.
const MAX_CLIENTS: usize = 16;

/// The pause after an accept failed for want of descriptors or memory.
const ACCEPT_BACKOFF: std::time::Duration = std::time::Duration::from_millis(100);

/// A service as the console shows it.
#[derive(Clone)]
pub(crate) struct ServiceView {
    pub(crate) cx: Context,
    pub(crate) started_at: SystemTime,
}

/// A worker process as its parent's console shows it.
#[derive(Clone, Debug)]
pub(crate) struct WorkerView {
    pub(crate) service: String,
    pub(crate) index: usize,
    pub(crate) pid: u32,
    pub(crate) generation: u64,
    pub(crate) started_at: SystemTime,
    pub(crate) restarts: u64,
    pub(crate) ready: bool,
}

/// What the launcher shows the console; it updates the views as things change.
pub(crate) struct Views {
    conf: Config,
    services: Mutex<Vec<ServiceView>>,
    workers: Mutex<Option<Vec<WorkerView>>>,
}

impl Views {
    fn services(&self) -> Vec<ServiceView> {
        self.services
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn workers(&self) -> Option<Vec<WorkerView>> {
        self.workers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// A running console; dropping it stops it (and removes its socket file).
pub(crate) struct Console {
    views: Arc<Views>,
    stop: CancellationToken,
    socket_file: Option<(PathBuf, SocketFile)>,
}

impl Console {
    /// Starts the console the configuration asks for, if any. A bad `backdoor_port` is
    /// an error naming it; so is an address that cannot be bound.
    pub(crate) fn start(conf: &Config) -> Result<Option<Console>> {
        let pid = std::process::id();
        let Some(address) = Address::read(&conf.snapshot(), pid)? else {
            return Ok(None);
        };
        let views = Arc::new(Views {
            conf: conf.clone(),
            services: Mutex::default(),
            workers: Mutex::default(),
        });
        let stop = CancellationToken::new();
        let socket_file = match address {
            Address::Tcp(range) => {
                let listener = bind_port(range)?;
                let port = listener
                    .local_addr()
                    .map_err(|err| Error::io("backdoor address", err))?
                    .port();
                tracing::info!("backdoor listening on {port} for process {pid}");
                tokio::spawn(accept_tcp(listener, Arc::clone(&views), stop.clone()));
                None
            }
            Address::Unix(path) => {
                let (listener, file) = bind_socket(&path)?;
                tracing::info!("backdoor listening on {} for process {pid}", path.display());
                tokio::spawn(accept_unix(listener, Arc::clone(&views), stop.clone()));
                Some((path, file))
            }
        };
        Ok(Some(Console {
            views,
            stop,
            socket_file,
        }))
    }

    /// The services as they run now (after a start or a restart).
    pub(crate) fn set_services(&self, contexts: Vec<Context>) {
        let started_at = SystemTime::now();
        let views = contexts
            .into_iter()
            .map(|cx| ServiceView { cx, started_at })
            .collect();
        *self
            .views
            .services
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = views;
    }

    /// The workers as they run now (in a parent).
    pub(crate) fn set_workers(&self, workers: Vec<WorkerView>) {
        *self
            .views
            .workers
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(workers);
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some((path, file)) = &self.socket_file {
            file.remove(path);
        }
    }
}

/// Checks where the console would listen, listening nowhere (`--check-config`).
pub(crate) fn check(conf: &Config) -> std::result::Result<(), crate::config::ConfigError> {
    Address::read(&conf.snapshot(), std::process::id()).map(drop)
}

/// The lowest port of the range that binds, on 127.0.0.1.
fn bind_port(range: address::PortRange) -> Result<TcpListener> {
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

/// Removes the console socket a worker that is gone left at `backdoor_socket` (its
/// `{pid}`): a worker killed by a signal never removes its own. Only a socket no one
/// answers on is removed.
pub(crate) fn remove_socket_of_gone_process(conf: &Config, pid: u32) {
    let Ok(Some(Address::Unix(path))) = Address::read(&conf.snapshot(), pid) else {
        return;
    };
    if std::fs::symlink_metadata(&path).is_ok() {
        let _ = crate::net::remove_stale_socket(&path);
    }
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
        if !is_allowed(uid) {
            tracing::warn!(?uid, %peer, "backdoor refused a client of another user");
            continue;
        }
        let who = format!("{peer} uid={}", uid.unwrap_or_default());
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
