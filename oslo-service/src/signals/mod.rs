//! The process's one signal loop: SIGTERM, SIGINT and SIGHUP (and, in a parent of worker
//! processes, SIGCHLD, SIGTTIN and SIGTTOU) arrive as events the launcher awaits, without
//! polling, and the daemon rule says what SIGHUP means.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::pin::{Pin, pin};

use futures_core::Stream;
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM, SIGTTIN, SIGTTOU, SIGUSR2};
use signal_hook_tokio::{Handle, Signals};

mod early;
mod mask;

pub(crate) use early::{capture_early, hand_over};
pub(crate) use mask::block;
use mask::unblock;

/// A signal the launcher acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignalEvent {
    /// SIGTERM: stop gracefully.
    Terminate,
    /// SIGINT: exit at once.
    Interrupt,
    /// SIGHUP: reload when a daemon, otherwise stop.
    HangUp,
    /// SIGCHLD: a worker process exited; only a parent of workers receives it.
    ChildExited,
    /// SIGTTIN: one more worker for every service; only a parent of workers receives it.
    AddWorker,
    /// SIGTTOU: one worker less for every service; only a parent of workers receives it.
    RemoveWorker,
    /// SIGUSR2, a worker's parent-death signal: the thread that started this worker
    /// ended, which happens when the parent dies (and, the kernel being what it is, when
    /// only that thread ends); only a worker receives it.
    ParentGone,
    /// SIGUSR2 to a launcher's top process: start the executable now on disk and hand
    /// it the listening sockets (a binary upgrade).
    Upgrade,
}

impl SignalEvent {
    /// The signal's conventional name, such as `SIGTERM`.
    pub fn name(self) -> &'static str {
        match self {
            SignalEvent::Terminate => "SIGTERM",
            SignalEvent::Interrupt => "SIGINT",
            SignalEvent::HangUp => "SIGHUP",
            SignalEvent::ChildExited => "SIGCHLD",
            SignalEvent::AddWorker => "SIGTTIN",
            SignalEvent::RemoveWorker => "SIGTTOU",
            SignalEvent::ParentGone | SignalEvent::Upgrade => "SIGUSR2",
        }
    }

    fn from_raw(signal: i32) -> Option<Self> {
        match signal {
            SIGTERM => Some(SignalEvent::Terminate),
            SIGINT => Some(SignalEvent::Interrupt),
            SIGHUP => Some(SignalEvent::HangUp),
            SIGCHLD => Some(SignalEvent::ChildExited),
            SIGTTIN => Some(SignalEvent::AddWorker),
            SIGTTOU => Some(SignalEvent::RemoveWorker),
            SIGUSR2 => Some(SignalEvent::ParentGone),
            _ => None,
        }
    }
}

impl std::fmt::Display for SignalEvent {
    /// The signal's name, as logs show it: `signal=SIGTERM`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Receives the signals the launcher handles. From the moment it exists, SIGTERM, SIGINT
/// and SIGHUP no longer end the process by themselves: they wait here to be handled.
pub struct SignalLoop {
    signals: Signals,
    handle: Handle,
    deferred: VecDeque<SignalEvent>,
    /// Ticks at systemd's watchdog interval, if it asked for one: `WATCHDOG=1` goes out
    /// only while this loop is polled, so a launcher that stops handling signals stops
    /// feeding the watchdog, and systemd restarts it.
    watchdog: Option<tokio::time::Interval>,
    /// What SIGUSR2 means here: a worker's parent-death signal, or an upgrade.
    usr2: SignalEvent,
}

/// SIGINT arrived (or the loop closed) while [`SignalLoop::guard`] ran its future.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interrupted;

impl SignalLoop {
    /// Takes over SIGTERM, SIGINT and SIGHUP. Must be called inside a tokio runtime.
    pub fn install() -> io::Result<Self> {
        Self::install_for(&[SIGTERM, SIGINT, SIGHUP], SignalEvent::ParentGone)
    }

    /// For a launcher that runs its services in its own process, alone: SIGUSR2 (a
    /// binary upgrade) besides SIGTERM, SIGINT and SIGHUP; as PID 1, SIGCHLD too (to
    /// reap the orphans it adopts).
    pub(crate) fn install_standalone() -> io::Result<Self> {
        if crate::orphans::is_init() {
            return Self::install_for(
                &[SIGTERM, SIGINT, SIGHUP, SIGUSR2, SIGCHLD],
                SignalEvent::Upgrade,
            );
        }
        Self::install_for(&[SIGTERM, SIGINT, SIGHUP, SIGUSR2], SignalEvent::Upgrade)
    }

    /// For the parent of worker processes: takes over SIGCHLD (reap and replace a
    /// worker), SIGTTIN and SIGTTOU (one worker more or less) and SIGUSR2 (a binary
    /// upgrade) besides SIGTERM, SIGINT and SIGHUP.
    pub(crate) fn install_supervisor() -> io::Result<Self> {
        Self::install_for(
            &[SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGTTIN, SIGTTOU, SIGUSR2],
            SignalEvent::Upgrade,
        )
    }

    /// For a worker process: takes over SIGTERM, SIGHUP and SIGUSR2 (its parent-death
    /// signal). SIGINT stays ignored, as its parent set it up: a Ctrl-C reaches the
    /// whole process group, and the parent alone decides what happens to its workers.
    pub(crate) fn install_worker() -> io::Result<Self> {
        Self::install_for(&[SIGTERM, SIGHUP, SIGUSR2], SignalEvent::ParentGone)
    }

    fn install_for(raw: &[i32], usr2: SignalEvent) -> io::Result<Self> {
        let signals = Signals::new(raw)?;
        let handle = signals.handle();
        // Signals the process was started with blocked (a worker is) reach the loop
        // from now on.
        unblock(raw)?;
        let watchdog = crate::systemd::watchdog_interval().map(|period| {
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks
        });
        Ok(SignalLoop {
            signals,
            handle,
            // What arrived before the loop existed is handled first.
            deferred: early::take(raw)
                .into_iter()
                .filter_map(SignalEvent::from_raw)
                .collect(),
            watchdog,
            usr2,
        })
    }

    /// The next signal, deferred ones first; `None` only if the loop was closed.
    pub async fn next(&mut self) -> Option<SignalEvent> {
        if let Some(event) = self.deferred.pop_front() {
            return Some(event);
        }
        self.receive().await
    }

    /// Runs `work` to its end while SIGINT can still cut it short; SIGTERM and SIGHUP
    /// arriving meanwhile are kept for [`SignalLoop::next`].
    pub async fn guard<F: Future>(&mut self, work: F) -> Result<F::Output, Interrupted> {
        if self.deferred.contains(&SignalEvent::Interrupt) {
            return Err(Interrupted);
        }
        let mut work = pin!(work);
        loop {
            tokio::select! {
                output = &mut work => return Ok(output),
                event = self.receive() => match event {
                    Some(SignalEvent::Interrupt) | None => return Err(Interrupted),
                    Some(event) => self.deferred.push_back(event),
                },
            }
        }
    }

    /// Drops the signals that arrived while other work ran.
    pub(crate) fn forget_deferred(&mut self) {
        self.deferred.clear();
    }

    async fn receive(&mut self) -> Option<SignalEvent> {
        loop {
            let signals = &mut self.signals;
            let watchdog = &mut self.watchdog;
            let raw_signal = poll_fn(|cx| Pin::new(&mut *signals).poll_next(cx));
            tokio::select! {
                raw = raw_signal => {
                    let raw = raw?;
                    if raw == SIGUSR2 {
                        return Some(self.usr2);
                    }
                    if let Some(event) = SignalEvent::from_raw(raw) {
                        return Some(event);
                    }
                }
                _ = async { watchdog.as_mut()?.tick().await; Some(()) }, if watchdog.is_some() => {
                    crate::systemd::notify_watchdog();
                }
            }
        }
    }
}

impl Drop for SignalLoop {
    fn drop(&mut self) {
        self.handle.close();
    }
}

impl std::fmt::Debug for SignalLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignalLoop").finish_non_exhaustive()
    }
}

/// Whether this process runs as a daemon, which decides what SIGHUP means: its process
/// group is not the foreground group of the terminal on stdout, or stdout is no terminal
/// at all. In a terminal's foreground, SIGHUP is a hang-up and means exit.
pub fn is_daemon() -> bool {
    mask::is_daemon()
}

/// SIGINT or SIGTERM, if one arrived after [`capture_early`] and before the signal loop
/// existed: a program still starting can leave at once, and cleanly.
pub(crate) fn stop_requested_early() -> Option<SignalEvent> {
    early::stop_requested().and_then(SignalEvent::from_raw)
}
