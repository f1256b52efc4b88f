//! Launchers: run services under the process's signal loop, with graceful shutdown,
//! reload on SIGHUP and, for several workers, worker processes.
//!
//! - [`launch`] picks the launcher: in process for one worker, worker processes for more.
//! - [`ServiceLauncher`] runs services in this process: oslo.service's `ServiceLauncher`.
//! - [`ProcessLauncher`] runs each service in worker processes: oslo.service's
//!   `ProcessLauncher`, rebuilt without fork.
//!
//! # Worker processes
//!
//! A parent runs no service itself: it starts `/proc/self/exe` again, with its own
//! argv, once per worker, and supervises those processes. A re-executed worker finds an
//! environment marker naming its service and index; the same program builds the same
//! launcher in the same order, and [`ProcessLauncher::run`] then runs that one service
//! in that process instead of supervising. Sockets bound with [`crate::net::listen`] in
//! the parent are inherited by every worker, so they all accept on one port.
//!
//! | event | the parent |
//! |---|---|
//! | a worker exits or is killed | logs `child exited` (with `status`) or `child killed` (with `signal`) and starts a replacement; more forks than workers within as many seconds log "forking too fast, sleeping" and pause a second |
//! | SIGTERM | SIGTERM to every worker and waits; past `graceful_shutdown_timeout` the rest are killed and the parent exits 1; a previous generation still stopping keeps its own deadline |
//! | SIGINT | kills every worker, exits 1 (workers ignore the SIGINT of a Ctrl-C) |
//! | SIGHUP, `reload` | re-reads the configuration (a bad one is refused), `reset()` here, starts a new generation of workers and stops the old one once the new one is ready |
//! | SIGHUP, `mutate` | re-reads the configuration, `reset()` here, SIGHUP to every worker, which re-reads and resets in place |
//! | a worker does not acknowledge a reload within `graceful_shutdown_timeout` | logged with its pid, killed and replaced; the reload ends with `READY=1` |
//! | a worker's runtime stops answering its heartbeat | SIGABRT, SIGKILL 5 s later unless it was reaped meanwhile; replaced |
//! | a worker reaches `max_requests`, `max_worker_lifetime` or `max_worker_memory` | replaced new-before-old; during a start or a reload, once it is over |
//! | SIGTTIN / SIGTTOU | one worker more / less for every service within its bounds ([`ProcessLauncher::launch_service_bounded`]; from 1 to any by default); a service at its maximum / minimum is left alone, with one INFO line (`service`, `workers`, `bound`) |
//! | parent dies | each worker reads end-of-file on its control socket (and SIGUSR2, its parent-death signal) and exits at once |
//! | SIGUSR2 | starts the executable now on disk with the same arguments and the listening sockets; once its workers are ready, it takes over (`MAINPID=`) and this parent drains its own and exits 0; if it fails, this parent serves on |
//!
//! systemd hears `READY=1` from the parent once every worker has reported that its
//! services started; workers never notify. Workers start with SIGTERM and SIGHUP
//! blocked across exec, until their own handlers are in place: one asked to stop while
//! it starts exits 0.
//!
//! # Inside the package
//!
//! `in_process` is the in-process launcher, which a worker also runs; `process` the
//! process launcher's front; `supervisor` its parent side (the pool's rules without I/O
//! in `supervisor::pool`, the event loop around them); `worker` the worker side (its
//! marker and its link to the parent); `protocol` the control socket's frames, which
//! both sides speak; `spawn` starts one worker; `upgrade` a binary upgrade (SIGUSR2),
//! on both sides; `fork_rate` is
//! oslo.service's rule against crash loops; `phase` the launcher states and the reload
//! path both launchers share; `services` the services of one process.

mod fork_rate;
mod in_process;
mod phase;
mod process;
mod protocol;
mod role;
mod services;
mod spawn;
mod supervisor;
mod upgrade;
mod upgrade_requests;
mod worker;

pub use in_process::ServiceLauncher;
pub use process::{LauncherHandle, ProcessLauncher};
pub use services::{RestartMethod, Services};
pub(crate) use upgrade_requests::request as request_upgrade;
pub(crate) use worker::parent_values;
pub(crate) use worker::thread_share as worker_thread_share;
pub use worker::{WorkerId, current_worker};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::service::ServiceBase;

/// Runs `service` until a signal ends it: in this process when `workers` is 1, in
/// `workers` worker processes under a [`ProcessLauncher`] otherwise.
///
/// ```no_run
/// # #[derive(Default)] struct Poller;
/// # impl oslo::ServiceBase for Poller { fn name(&self) -> &str { "poller" } }
/// #[oslo::main]
/// async fn main(conf: oslo::Config) -> oslo::Result<()> {
///     oslo::launch(conf, Poller::default(), 1).await
/// }
/// ```
///
/// `workers` of 0 is an error.
pub async fn launch<S: ServiceBase>(conf: Config, service: S, workers: usize) -> Result<()> {
    check_workers(workers)?;
    if workers == 1 {
        ServiceLauncher::new(conf)
            .launch_service(service)
            .run()
            .await
    } else {
        ProcessLauncher::new(conf)
            .launch_service(service, workers)
            .run()
            .await
    }
}

/// Every worker count a user gives, wherever given, passes here.
fn check_workers(workers: usize) -> Result<()> {
    if workers == 0 {
        return Err(Error::Launch(
            "number of workers should be positive".to_owned(),
        ));
    }
    Ok(())
}

/// Whether this process was started as a worker: its marker is in the environment
/// (read before [`take_inherited_env`] takes it out).
pub(crate) fn started_as_worker() -> bool {
    std::env::var_os(worker::WORKER_ENV).is_some() || current_worker().is_some()
}

/// Whether this process is the successor of a binary upgrade, not yet ready.
pub(crate) fn has_predecessor() -> bool {
    upgrade::has_predecessor()
}

/// Reads what the process inherited and takes it out of the environment, so that
/// processes it starts inherit none of it: systemd's notify socket, a worker's marker
/// and the sockets its parent shares.
///
/// # Safety
///
/// No other thread may read or write the environment while this runs: call it first
/// thing in `main`, before any runtime exists.
pub(crate) unsafe fn take_inherited_env() {
    // SAFETY: the caller promises that no other thread touches the environment now.
    unsafe {
        crate::systemd::forget_notify_socket_env();
        worker::take_env();
        upgrade::take_env();
    }
}
