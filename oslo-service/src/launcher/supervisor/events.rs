//! What the workers tell their parent: their control sockets' events (ready, heard,
//! silent, served their requests), each handed to the pool's rules, and their exits.

use std::time::{Instant, SystemTime};

use rustix::process::{Pid, WaitOptions, WaitStatus};

use super::Supervisor;
use super::control::WorkerEvent;
use crate::launcher::phase::LauncherState;
use crate::systemd;

impl Supervisor {
    pub(super) fn worker_event(&mut self, event: WorkerEvent) {
        match event {
            WorkerEvent::Ready(pid) => {
                if let Some(link) = self.links.get(&pid) {
                    link.ready.taken();
                }
                self.mark_ready(pid);
            }
            WorkerEvent::ServedItsRequests(pid) => {
                self.pool
                    .ask_recycle(pid, "max_requests", self.phase.state());
            }
            WorkerEvent::Heard(pid) => {
                if let Some(link) = self.links.get_mut(&pid) {
                    link.last_heard = Some(SystemTime::now());
                }
            }
            WorkerEvent::Silent(pid, silent) => {
                tracing::error!(
                    pid,
                    silent_seconds = silent.as_secs(),
                    "worker runtime not answering, aborting it"
                );
                let action = self.pool.abort(pid, Instant::now());
                self.carry_out(action.into_iter().collect());
            }
        }
    }

    fn mark_ready(&mut self, pid: i32) {
        if let Some(worker) = self.pool.workers().get(&pid) {
            tracing::debug!(pid, worker = worker.index, service = %self.pool.name(worker.pool), "worker ready");
        }
        let actions = self.pool.ready(pid, self.phase.state(), Instant::now());
        if self.phase.state() != LauncherState::Running && actions.is_empty() {
            systemd::notify_status(&self.pool.readiness());
        }
        self.carry_out(actions);
    }

    /// Collects every worker that exited and logs how; as PID 1, every orphan too.
    pub(super) fn reap(&mut self) {
        let pids: Vec<i32> = self.pool.workers().keys().copied().collect();
        for pid in pids {
            let Some(raw) = Pid::from_raw(pid) else {
                continue;
            };
            match rustix::process::waitpid(Some(raw), WaitOptions::NOHANG) {
                Ok(None) => {}
                Ok(Some((_, status))) => self.exited(pid, Some(status)),
                Err(err) => {
                    tracing::warn!(pid, error = %err, "cannot wait for worker");
                    self.exited(pid, None);
                }
            }
        }
        // As a container's PID 1, the other children are orphans it adopted.
        if crate::orphans::is_init() {
            let successor = self.successor.as_ref().map(|s| s.pid());
            let workers = self.pool.workers();
            crate::orphans::reap(|pid| workers.contains_key(&pid) || successor == Some(pid));
        }
    }

    fn exited(&mut self, pid: i32, status: Option<WaitStatus>) {
        self.links.remove(&pid);
        let Some(worker) = self.pool.exited(pid) else {
            return;
        };
        let service = self.pool.name(worker.pool);
        let index = worker.index;
        let signal = status.and_then(WaitStatus::terminating_signal);
        let code = status.and_then(WaitStatus::exit_status);
        let reason = match (worker.retiring, signal) {
            (true, _) => "retired",
            (false, Some(_)) => "killed",
            (false, None) => "exited",
        };
        crate::metrics::worker_restarted(service, reason);
        match (signal, code) {
            (Some(signal), _) => {
                tracing::info!(pid, worker = index, %service, signal, "child killed")
            }
            (None, Some(code)) => {
                tracing::info!(pid, worker = index, %service, status = code, "child exited")
            }
            (None, None) => tracing::info!(pid, worker = index, %service, "child gone"),
        }
        // A worker killed by a signal left its console's socket behind.
        if let Ok(pid) = u32::try_from(pid) {
            crate::backdoor::remove_socket_of_gone_process(&self.conf, pid);
        }
    }
}
