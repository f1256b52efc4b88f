//! The debug console (oslo.service's `eventlet_backdoor`), off unless `backdoor_port`
//! or `backdoor_socket` is set: a line protocol on localhost or on a 0600 UNIX socket
//! that an operator drives with `nc` or `socat` to ask a running process what it is
//! doing (`services`, `tasks`, `workers`, `conf`, `runtime`), change its log filter,
//! or run a periodic task now. Every launcher starts one for its process: a parent of
//! workers and each worker have their own.

// Without feature `console` the launchers keep the views up to date as ever, but no
// listener reads them.
#![cfg_attr(not(feature = "console"), allow(dead_code))]

mod address;
#[cfg(feature = "console")]
mod commands;
#[cfg_attr(not(feature = "console"), path = "without_listener.rs")]
mod listen;
#[cfg(feature = "console")]
mod peer;
#[cfg(feature = "console")]
mod session;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::error::Result;
use crate::net::SocketFile;
use crate::service::Context;
use address::Address;

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
    /// When its runtime last answered the heartbeat.
    pub(crate) last_answer: Option<SystemTime>,
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
                let port = listen::tcp(range, &views, &stop)?;
                tracing::info!("backdoor listening on {port} for process {pid}");
                None
            }
            Address::Unix(path) => {
                let file = listen::unix(&path, &views, &stop)?;
                tracing::info!("backdoor listening on {} for process {pid}", path.display());
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
