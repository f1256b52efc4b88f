//! The process's one signal loop: SIGTERM, SIGINT and SIGHUP (and, in a parent of worker
//! processes, SIGCHLD, SIGTTIN and SIGTTOU) arrive as events the launcher awaits, without
//! polling, and the daemon rule says what SIGHUP means.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::os::fd::AsFd;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use futures_core::Stream;
use signal_hook::SigId;
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM, SIGTTIN, SIGTTOU, SIGUSR2};
use signal_hook_tokio::{Handle, Signals};

/// A signal the launcher acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
            SignalEvent::ParentGone => "SIGUSR2",
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
}

/// SIGINT arrived (or the loop closed) while [`SignalLoop::guard`] ran its future.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interrupted;

impl SignalLoop {
    /// Takes over SIGTERM, SIGINT and SIGHUP. Must be called inside a tokio runtime.
    pub fn install() -> io::Result<Self> {
        Self::install_for(&[SIGTERM, SIGINT, SIGHUP])
    }

    /// For the parent of worker processes: takes over SIGCHLD (reap and replace a
    /// worker), SIGTTIN and SIGTTOU (one worker more or less) besides SIGTERM, SIGINT
    /// and SIGHUP.
    pub fn install_supervisor() -> io::Result<Self> {
        Self::install_for(&[SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGTTIN, SIGTTOU])
    }

    /// For a worker process: takes over SIGTERM, SIGHUP and SIGUSR2 (its parent-death
    /// signal). SIGINT stays ignored, as its parent set it up: a Ctrl-C reaches the
    /// whole process group, and the parent alone decides what happens to its workers.
    pub fn install_worker() -> io::Result<Self> {
        Self::install_for(&[SIGTERM, SIGHUP, SIGUSR2])
    }

    fn install_for(raw: &[i32]) -> io::Result<Self> {
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
            deferred: early::take(raw),
            watchdog,
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
    pub fn forget_deferred(&mut self) {
        self.deferred.clear();
    }

    async fn receive(&mut self) -> Option<SignalEvent> {
        loop {
            let signals = &mut self.signals;
            let watchdog = &mut self.watchdog;
            let raw_signal = poll_fn(|cx| Pin::new(&mut *signals).poll_next(cx));
            tokio::select! {
                raw = raw_signal => {
                    if let Some(event) = SignalEvent::from_raw(raw?) {
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

/// Takes over SIGTERM and SIGHUP (and SIGINT, unless `worker`) for the time before the
/// process's [`SignalLoop`] exists, so that none of them takes its default action (the
/// end of the process, without a word) while the program starts: each one that arrives
/// is kept, and the signal loop handles it first once installed. Then unblocks them, for
/// a process started with them blocked (the launcher starts its workers so).
///
/// `#[oslo::main]` calls it before `main`, and leaves at once (exit 0 for SIGTERM, 1 for
/// SIGINT) when one came while it read the command line and the configuration; a
/// program with a `main` of its own can call it too. The signals are held until a
/// signal loop takes them: a program that never launches a service should not call it.
/// A worker leaves SIGINT alone: its parent set it to be ignored.
///
/// ```
/// oslo::signals::capture_early(false)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn capture_early(worker: bool) -> io::Result<()> {
    let taken: &[i32] = if worker {
        &[SIGTERM, SIGHUP]
    } else {
        &[SIGTERM, SIGINT, SIGHUP]
    };
    early::capture(taken)?;
    unblock(taken)
}

/// The signals caught before the loop existed, one flag each.
mod early {
    use super::*;

    /// Each signal taken over early: its flag and its registration.
    static CAUGHT: Mutex<Vec<(i32, Arc<AtomicBool>, SigId)>> = Mutex::new(Vec::new());

    pub(super) fn capture(raw: &[i32]) -> io::Result<()> {
        let mut caught = CAUGHT.lock().unwrap_or_else(PoisonError::into_inner);
        for &signal in raw {
            if caught.iter().any(|(known, _, _)| *known == signal) {
                continue;
            }
            let flag = Arc::new(AtomicBool::new(false));
            let id = signal_hook::flag::register(signal, Arc::clone(&flag))?;
            caught.push((signal, flag, id));
        }
        Ok(())
    }

    /// SIGINT or SIGTERM, if one arrived early (and is still waiting for the loop).
    pub(super) fn stop_requested() -> Option<SignalEvent> {
        let caught = CAUGHT.lock().unwrap_or_else(PoisonError::into_inner);
        [SIGINT, SIGTERM].into_iter().find_map(|wanted| {
            caught
                .iter()
                .find(|(signal, flag, _)| *signal == wanted && flag.load(Ordering::SeqCst))
                .and_then(|_| SignalEvent::from_raw(wanted))
        })
    }

    /// The events of `raw` that arrived early, gravest first; their early handlers go,
    /// the loop's own being in place. A signal landing between the loop's registration
    /// and this may be seen twice: the second asks for what the first already does.
    pub(super) fn take(raw: &[i32]) -> VecDeque<SignalEvent> {
        let mut caught = CAUGHT.lock().unwrap_or_else(PoisonError::into_inner);
        let mut events = VecDeque::new();
        caught.retain(|(signal, flag, id)| {
            if !raw.contains(signal) {
                return true;
            }
            signal_hook::low_level::unregister(*id);
            if flag.load(Ordering::SeqCst) {
                if let Some(event) = SignalEvent::from_raw(*signal) {
                    events.push_back(event);
                }
            }
            false
        });
        let gravity = |event: &SignalEvent| match event {
            SignalEvent::Interrupt => 0,
            SignalEvent::Terminate => 1,
            _ => 2,
        };
        events.make_contiguous().sort_by_key(gravity);
        events
    }
}

/// SIGINT or SIGTERM, if one arrived after [`capture_early`] and before the signal loop
/// existed: a program still starting can leave at once, and cleanly.
pub fn stop_requested_early() -> Option<SignalEvent> {
    early::stop_requested()
}

/// Unblocks `raw` in the calling thread (threads started afterwards inherit its mask).
fn unblock(raw: &[i32]) -> io::Result<()> {
    change_mask(libc::SIG_UNBLOCK, raw)
}

/// Blocks `raw` in the calling thread; a blocked signal waits, pending, and the mask
/// survives exec. Async-signal-safe: the launcher calls it between fork and exec.
pub(crate) fn block(raw: &[i32]) -> io::Result<()> {
    change_mask(libc::SIG_BLOCK, raw)
}

fn change_mask(how: libc::c_int, raw: &[i32]) -> io::Result<()> {
    // SAFETY: `set` is a local signal set, initialised by sigemptyset before use; the
    // calls only read and write it and the calling thread's signal mask, and allocate
    // nothing (so they may run between fork and exec).
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &signal in raw {
            libc::sigaddset(&mut set, signal);
        }
        match libc::pthread_sigmask(how, &set, std::ptr::null_mut()) {
            0 => Ok(()),
            errno => Err(io::Error::from_raw_os_error(errno)),
        }
    }
}

/// Whether this process runs as a daemon, which decides what SIGHUP means: its process
/// group is not the foreground group of the terminal on stdout, or stdout is no terminal
/// at all. In a terminal's foreground, SIGHUP is a hang-up and means exit.
pub fn is_daemon() -> bool {
    let stdout = io::stdout();
    match rustix::termios::tcgetpgrp(stdout.as_fd()) {
        Ok(foreground) => foreground != rustix::process::getpgrp(),
        Err(rustix::io::Errno::NOTTY | rustix::io::Errno::BADF) => true,
        Err(err) => {
            tracing::debug!(error = %err, "cannot read the terminal's foreground group; taking this process for a daemon");
            true
        }
    }
}
