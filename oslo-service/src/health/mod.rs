//! The health of a whole service, HTTP or not: with `[health] enabled`, the launcher's
//! top process answers `GET /health/live`, `/health/ready` and `/health/startup` in
//! `application/health+json`, for Kubernetes' probes, systemd or a load balancer.
//!
//! - **startup** passes once the service was first ready (when `READY=1` went to
//!   systemd), and from then on;
//! - **readiness** fails while the service starts, stops (drains), or reloads without a
//!   generation of workers ready, and when a registered [`Check`] fails;
//! - **liveness** fails only when the process itself is stuck: its launcher's loop does
//!   not answer, or every worker it has hung. A failing database is not a reason to
//!   restart the process, so checks never fail liveness.
//!
//! A service registers its own checks (a database ping) before it launches; they run
//! in the top process when a readiness probe asks, each with its timeout, and an
//! answer is kept for its cache time, so that probes do not hammer the database.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! # async fn ping_the_database() -> Result<(), std::io::Error> { Ok(()) }
//! oslo::health::register(
//!     oslo::health::Check::new("database", || async {
//!         ping_the_database().await?;
//!         Ok::<(), std::io::Error>(())
//!     })
//!     .timeout(Duration::from_secs(2))
//!     .cache_for(Duration::from_secs(10)),
//! );
//! ```

mod checks;
mod endpoint;
mod report;

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

pub use checks::{Check, register};
pub(crate) use endpoint::serve;
use report::{Entry, Report, Status};

/// The launcher's phase, as the health probes see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lifecycle {
    Starting,
    Running,
    Reloading,
    Stopping,
}

/// What a process launcher's loop says of its workers when asked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Workers {
    /// Workers ready to serve, of any generation.
    pub(crate) ready: usize,
    /// Workers alive (started and not reaped).
    pub(crate) alive: usize,
    /// Of those, the ones whose runtime stopped answering its heartbeat.
    pub(crate) hung: usize,
}

/// A process launcher's loop, asked for its workers: it answers as it turns.
pub(crate) type Asker = tokio::sync::mpsc::Sender<tokio::sync::oneshot::Sender<Workers>>;

/// How long the launcher's loop has to answer a liveness probe: Kubernetes gives a
/// probe 1 s by default.
const LOOP_ANSWER: Duration = Duration::from_millis(500);

#[derive(Debug)]
struct State {
    lifecycle: Lifecycle,
    /// When the service was first ready: startup passes from then on.
    ready_since: Option<SystemTime>,
    /// The process launcher's loop; `None` in a process that serves its services.
    supervisor: Option<Asker>,
}

static STATE: Mutex<State> = Mutex::new(State {
    lifecycle: Lifecycle::Starting,
    ready_since: None,
    supervisor: None,
});

fn state() -> MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// The launcher entered `lifecycle`.
pub(crate) fn entered(lifecycle: Lifecycle) {
    let mut state = state();
    state.lifecycle = lifecycle;
    if lifecycle == Lifecycle::Running && state.ready_since.is_none() {
        state.ready_since = Some(SystemTime::now());
    }
}

/// The process launcher's loop answers on `asker` from now on.
pub(crate) fn supervised_by(asker: Asker) {
    state().supervisor = Some(asker);
}

/// The three probes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Probe {
    Live,
    Ready,
    Startup,
}

impl Probe {
    pub(crate) fn from_path(path: &str) -> Option<Probe> {
        match path {
            "/health/live" => Some(Probe::Live),
            "/health/ready" => Some(Probe::Ready),
            "/health/startup" => Some(Probe::Startup),
            _ => None,
        }
    }
}

/// The launcher's own entry: its phase and, under a process launcher, its workers
/// (`None` when its loop did not answer in time).
async fn launcher_entry() -> (Lifecycle, Option<SystemTime>, Option<Option<Workers>>) {
    let (lifecycle, ready_since, supervisor) = {
        let state = state();
        (state.lifecycle, state.ready_since, state.supervisor.clone())
    };
    // A stopping launcher's loop is busy with the stop, as it was asked.
    let workers = match supervisor {
        Some(asker) if lifecycle != Lifecycle::Stopping => Some(ask(&asker).await),
        _ => None,
    };
    (lifecycle, ready_since, workers)
}

async fn ask(asker: &Asker) -> Option<Workers> {
    let (reply, answer) = tokio::sync::oneshot::channel();
    tokio::time::timeout(LOOP_ANSWER, async {
        asker.send(reply).await.ok()?;
        answer.await.ok()
    })
    .await
    .ok()
    .flatten()
}

/// The report of one probe.
pub(crate) async fn probe(probe: Probe) -> Report {
    let (lifecycle, ready_since, workers) = launcher_entry().await;
    let now = SystemTime::now();
    let phase = match lifecycle {
        Lifecycle::Starting => "starting",
        Lifecycle::Running => "running",
        Lifecycle::Reloading => "reloading",
        Lifecycle::Stopping => "stopping",
    };
    let mut report = Report::default();
    match probe {
        Probe::Startup => {
            let entry = match ready_since {
                Some(since) => Entry::new(Status::Pass, since, format!("ready, now {phase}")),
                None => Entry::new(Status::Fail, now, "not ready yet".to_owned()),
            };
            report.add("launcher:startup", entry);
        }
        Probe::Live => report.add("launcher:liveness", liveness(phase, workers, now)),
        Probe::Ready => {
            report.add(
                "launcher:readiness",
                readiness(lifecycle, phase, workers, now),
            );
            for (name, entry) in checks::run_all().await {
                report.add(&name, entry);
            }
        }
    }
    report
}

fn liveness(phase: &str, workers: Option<Option<Workers>>, now: SystemTime) -> Entry {
    match workers {
        None => Entry::new(Status::Pass, now, format!("{phase}, this process answers")),
        Some(None) => Entry::new(
            Status::Fail,
            now,
            format!(
                "the launcher's loop did not answer within {} ms",
                LOOP_ANSWER.as_millis()
            ),
        ),
        Some(Some(workers)) if workers.alive > 0 && workers.hung == workers.alive => Entry::new(
            Status::Fail,
            now,
            format!("every worker ({}) stopped answering", workers.alive),
        ),
        Some(Some(workers)) => Entry::new(
            Status::Pass,
            now,
            format!(
                "{phase}, {} workers alive, {} hung",
                workers.alive, workers.hung
            ),
        ),
    }
}

fn readiness(
    lifecycle: Lifecycle,
    phase: &str,
    workers: Option<Option<Workers>>,
    now: SystemTime,
) -> Entry {
    match (lifecycle, workers) {
        (Lifecycle::Starting | Lifecycle::Stopping, _) => {
            Entry::new(Status::Fail, now, phase.to_owned())
        }
        // In one process, a reload restarts the services: nothing is ready meanwhile.
        (Lifecycle::Reloading, None) => Entry::new(Status::Fail, now, phase.to_owned()),
        (Lifecycle::Running, None) => Entry::new(Status::Pass, now, phase.to_owned()),
        (_, Some(None)) => Entry::new(
            Status::Fail,
            now,
            "the launcher's loop did not answer".to_owned(),
        ),
        // Under a process launcher, the old generation serves through a reload until
        // the new one is ready: ready while any worker is.
        (Lifecycle::Running | Lifecycle::Reloading, Some(Some(workers))) => {
            let status = if workers.ready > 0 {
                Status::Pass
            } else {
                Status::Fail
            };
            Entry::new(
                status,
                now,
                format!(
                    "{phase}, {} of {} workers ready",
                    workers.ready, workers.alive
                ),
            )
        }
    }
}

#[cfg(test)]
mod tests;
