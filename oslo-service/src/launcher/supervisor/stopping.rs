//! How the parent ends: a stop (SIGTERM, or SIGHUP in a terminal), a hand-over to the
//! successor of a binary upgrade, or SIGINT; and the upgrade's start.

use std::time::{Duration, Instant};

/// What a stop takes beyond its delay and `graceful_shutdown_timeout`.
const STOP_MARGIN: Duration = Duration::from_secs(5);

use rustix::process::{Pid, Signal, WaitOptions};

use super::control::WorkerEvent;
use super::{Supervisor, send};
use crate::error::{Error, Result};
use crate::launcher::phase::LauncherState;
use crate::launcher::protocol::DRAIN;
use crate::launcher::upgrade::Successor;
use crate::launcher::upgrade_requests;
use crate::signals::{SignalEvent, SignalLoop};
use crate::systemd;

impl Supervisor {
    /// SIGUSR2: starts the executable now on disk, which takes over once its workers
    /// are ready; one upgrade at a time, and none while reloading.
    pub(super) fn upgrade(&mut self) {
        if let Some(successor) = &self.successor {
            tracing::warn!(
                successor = successor.pid(),
                "an upgrade is under way already"
            );
            upgrade_requests::refused("an upgrade is under way already");
            return;
        }
        if self.phase.state() != LauncherState::Running {
            tracing::warn!(state = ?self.phase.state(), "no upgrade until the workers are ready");
            upgrade_requests::refused(&format!(
                "no upgrade until the workers are ready (the launcher is {:?})",
                self.phase.state()
            ));
            return;
        }
        match Successor::start(self.options.graceful_shutdown_timeout) {
            Ok(successor) => {
                tracing::info!(
                    signal = %SignalEvent::Upgrade,
                    successor = successor.pid(),
                    "caught signal, started the executable on disk"
                );
                self.successor = Some(successor);
                upgrade_requests::started();
            }
            Err(err) => {
                tracing::error!(error = %err, "upgrade failed: cannot start the executable on disk, serving on");
                upgrade_requests::refused(&format!("cannot start the executable on disk: {err}"));
            }
        }
    }

    /// The successor is ready and systemd's main process: this parent says nothing more
    /// to systemd, lets its workers drain as on SIGTERM (the shared sockets stay open:
    /// the successor accepts on them), and exits 0.
    pub(super) async fn hand_over(
        &mut self,
        successor: Option<i32>,
        signals: &mut SignalLoop,
    ) -> Result<()> {
        tracing::info!(
            successor,
            "the new executable is ready, stopping this one's workers"
        );
        systemd::hand_over();
        self.phase.enter(LauncherState::Stopping);
        self.drain(signals).await
    }

    /// SIGTERM (or SIGHUP in a terminal): every worker is asked to stop, and killed if
    /// it has not within `graceful_shutdown_timeout`. A worker already stopping (the old
    /// generation of a reload) keeps its own deadline: the SIGTERM does not extend it.
    pub(super) async fn stop(&mut self, signals: &mut SignalLoop) -> Result<()> {
        // A new executable still starting stops with this one.
        if let Some(successor) = self.successor.take() {
            successor.kill();
        }
        if !self.options.shutdown_delay.is_zero() {
            self.delay_stop(signals).await?;
        }
        self.phase
            .begin_stop(self.options.graceful_shutdown_timeout);
        self.drain(signals).await
    }

    /// `graceful_shutdown_delay`: every worker's health check answers 503 from now (a
    /// drain frame), every route serves on and the sockets accept, for that long; then
    /// the stop proceeds.
    async fn delay_stop(&mut self, signals: &mut SignalLoop) -> Result<()> {
        let delay = self.options.shutdown_delay;
        tracing::info!(
            delay_seconds = delay.as_secs(),
            "draining before the stop: health checks answer 503, routes serve on"
        );
        systemd::notify_status("draining");
        if let Some(timeout) = self.options.graceful_shutdown_timeout {
            systemd::notify_extend_timeout(delay + timeout + STOP_MARGIN);
        }
        for link in self.links.values() {
            let _ = link.frames.send(vec![DRAIN]);
        }
        let until = tokio::time::Instant::now() + delay;
        loop {
            tokio::select! {
                event = signals.next() => match event {
                    None | Some(SignalEvent::Interrupt) => return self.interrupt(),
                    Some(SignalEvent::ChildExited) => self.reap(),
                    Some(_) => {}
                },
                () = tokio::time::sleep_until(until) => return Ok(()),
            }
        }
    }

    /// Every worker is asked to stop, and killed if it has not within
    /// `graceful_shutdown_timeout`.
    async fn drain(&mut self, signals: &mut SignalLoop) -> Result<()> {
        // Leaving first hands leadership, locks and cluster tasks over at once.
        crate::coordination::stop().await;
        let deadline = self
            .options
            .graceful_shutdown_timeout
            .map(|t| Instant::now() + t);
        let actions = self.pool.stop(deadline);
        self.carry_out(actions);
        let children = self.pool.workers().len();
        tracing::info!(children, "waiting on children to exit");
        while !self.pool.workers().is_empty() {
            let wake = self.pool.next_kill();
            tokio::select! {
                event = signals.next() => match event {
                    None | Some(SignalEvent::Interrupt) => return self.interrupt(),
                    Some(SignalEvent::ChildExited) => {
                        self.reap();
                        systemd::notify_status(&format!("stopping: {} workers left", self.pool.workers().len()));
                    }
                    Some(_) => {}
                },
                // A worker whose runtime goes silent while the others stop is aborted
                // (nothing else a worker says matters now).
                Some(event) = self.events_rx.recv() => {
                    if matches!(event, WorkerEvent::Silent(..)) {
                        self.worker_event(event);
                    }
                }
                () = crate::future::sleep_until(wake) => {
                    let now = Instant::now();
                    if deadline.is_some_and(|deadline| deadline <= now) {
                        tracing::error!(
                            children = self.pool.workers().len(),
                            "graceful shutdown timeout exceeded, killing the workers left"
                        );
                        self.kill_all();
                        return Err(Error::GracefulShutdownTimeout);
                    }
                    let actions = self.pool.tick(self.phase.state(), now);
                    self.carry_out(actions);
                }
            }
        }
        tracing::info!("all workers stopped");
        Ok(())
    }

    /// SIGINT: every worker is killed at once.
    pub(super) fn interrupt(&mut self) -> Result<()> {
        // The caller logs the error "caught SIGINT, exiting at once".
        tracing::info!(signal = %SignalEvent::Interrupt, "caught signal, killing every worker");
        self.kill_all();
        Err(Error::Interrupted)
    }

    fn kill_all(&mut self) {
        for pid in self.pool.take_all() {
            send(pid, Signal::KILL);
            if let Some(raw) = Pid::from_raw(pid) {
                // After SIGKILL the wait is short; it leaves no zombie behind.
                let _ = rustix::process::waitpid(Some(raw), WaitOptions::empty());
            }
        }
    }
}
