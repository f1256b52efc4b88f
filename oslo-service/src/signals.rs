//! The process's one signal loop: SIGTERM, SIGINT and SIGHUP (and, in a parent of worker
//! processes, SIGCHLD, SIGTTIN and SIGTTOU) arrive as events the launcher awaits, without
//! polling, and the daemon rule says what SIGHUP means.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::os::fd::AsFd;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use futures_core::Stream;
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM, SIGTTIN, SIGTTOU, SIGUSR2};
use signal_hook_tokio::{Handle, Signals};

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
            deferred: early::take(raw),
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

/// Takes over SIGTERM and SIGHUP (and SIGINT, unless `worker`) for the time before the
/// process's [`SignalLoop`] exists, so that none of them takes its default action (the
/// end of the process, without a word) while the program starts: each one that arrives
/// is kept, and the signal loop handles it first once installed. Then unblocks them, for
/// a process started with them blocked (the launcher starts its workers so).
///
/// `#[oslo::main]` calls it before `main`, and leaves at once (exit 0 for SIGTERM, 1 for
/// SIGINT) when one came while it read the command line and the configuration. Once it
/// runs the program's own `main`, it calls [`hand_over`]: from then on a signal that no
/// launcher takes over within a moment ends the process as it would any program. A
/// worker leaves SIGINT alone: its parent set it to be ignored.
///
pub(crate) fn capture_early(worker: bool) -> io::Result<()> {
    let taken: &[i32] = if worker {
        &[SIGTERM, SIGHUP]
    } else {
        &[SIGTERM, SIGINT, SIGHUP]
    };
    early::capture(taken)?;
    unblock(taken)
}

/// Hands the signals [`capture_early`] holds back to the program, for a program that
/// may never start a launcher (a `nova-manage`-style tool): a SIGTERM, SIGINT or SIGHUP
/// that no launcher has taken over [`HAND_OVER_GRACE`] after it arrived takes its usual
/// action (the process ends by that signal: a shell shows 143, 130 or 129), unless the
/// program installed a handler of its own for it (`tokio::signal::ctrl_c()`, say),
/// which then has it alone. A launcher started within the grace handles it as always.
/// `#[oslo::main]` calls it right before the program's `main`.
pub(crate) fn hand_over() -> io::Result<()> {
    early::hand_over()
}

/// How long a signal waits for a launcher to take it over, after [`hand_over`].
pub(crate) const HAND_OVER_GRACE: std::time::Duration = std::time::Duration::from_millis(80);

/// The signals caught before the loop existed. The handler is a plain sigaction, not
/// signal-hook's registry: when a launcher (or the program) registers there later, the
/// registry installs its own handler over it, and calls this one before its own.
mod early {
    use super::*;
    use std::sync::atomic::AtomicI32;

    /// The signals this module may hold, in a fixed order.
    const HELD: [i32; 3] = [SIGTERM, SIGINT, SIGHUP];

    /// Whether each of [`HELD`] is taken over, arrived, was ignored when the process
    /// started (then it stays ignored once handed over).
    static TAKEN: [AtomicBool; 3] = [const { AtomicBool::new(false) }; 3];
    static ARRIVED: [AtomicBool; 3] = [const { AtomicBool::new(false) }; 3];
    static WAS_IGNORED: [AtomicBool; 3] = [const { AtomicBool::new(false) }; 3];
    /// A signal loop took the signals over: the handler has nothing more to do.
    static LOOP_OWNS: AtomicBool = AtomicBool::new(false);
    /// The write end of the pipe that wakes the hand-over thread; -1 before.
    static WAKE: AtomicI32 = AtomicI32::new(-1);
    static CAPTURE: Mutex<()> = Mutex::new(());

    fn slot(signal: i32) -> Option<usize> {
        HELD.iter().position(|&held| held == signal)
    }

    extern "C" fn on_signal(signal: libc::c_int) {
        let Some(index) = slot(signal) else { return };
        if LOOP_OWNS.load(Ordering::SeqCst) {
            return;
        }
        ARRIVED[index].store(true, Ordering::SeqCst);
        let fd = WAKE.load(Ordering::SeqCst);
        if fd >= 0 {
            // SAFETY: errno is this thread's; write(2) is async-signal-safe and only
            // reads the one byte on this stack frame. errno is put back as it was, as a
            // signal handler must.
            unsafe {
                let errno = *libc::__errno_location();
                let byte = signal as u8;
                libc::write(fd, (&raw const byte).cast(), 1);
                *libc::__errno_location() = errno;
            }
        }
    }

    /// [`on_signal`] as sigaction(2) takes a handler: its address.
    fn handler_address() -> libc::sighandler_t {
        on_signal as extern "C" fn(libc::c_int) as *const () as libc::sighandler_t
    }

    /// The handler installed for `signal` now, as a number.
    fn current_handler(signal: i32) -> Option<libc::sighandler_t> {
        // SAFETY: sigaction with a null new action only reads the disposition into
        // `old`, a zeroed local.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            (libc::sigaction(signal, std::ptr::null(), &mut old) == 0).then_some(old.sa_sigaction)
        }
    }

    fn set_handler(signal: i32, handler: libc::sighandler_t) -> io::Result<libc::sighandler_t> {
        // SAFETY: `action` is a zeroed local with an empty mask and either SIG_DFL or a
        // handler that is async-signal-safe (`on_signal`); `old` receives the previous.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(signal, &action, &mut old) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(old.sa_sigaction)
        }
    }

    pub(super) fn capture(raw: &[i32]) -> io::Result<()> {
        let _once = CAPTURE.lock().unwrap_or_else(PoisonError::into_inner);
        for &signal in raw {
            let Some(index) = slot(signal) else { continue };
            if TAKEN[index].load(Ordering::SeqCst) || LOOP_OWNS.load(Ordering::SeqCst) {
                continue;
            }
            let old = set_handler(signal, handler_address())?;
            WAS_IGNORED[index].store(old == libc::SIG_IGN, Ordering::SeqCst);
            TAKEN[index].store(true, Ordering::SeqCst);
        }
        Ok(())
    }

    /// SIGINT or SIGTERM, if one arrived early (and is still waiting for the loop).
    pub(super) fn stop_requested() -> Option<SignalEvent> {
        [SIGINT, SIGTERM].into_iter().find_map(|wanted| {
            let index = slot(wanted)?;
            (TAKEN[index].load(Ordering::SeqCst) && ARRIVED[index].load(Ordering::SeqCst))
                .then(|| SignalEvent::from_raw(wanted))
                .flatten()
        })
    }

    /// The events of `raw` that arrived early, gravest first; from now on the loop's
    /// own handler (installed before this) has them. A signal landing between the
    /// loop's registration and this may be seen twice: the second asks for what the
    /// first already does.
    pub(super) fn take(raw: &[i32]) -> VecDeque<SignalEvent> {
        LOOP_OWNS.store(true, Ordering::SeqCst);
        let mut events: VecDeque<SignalEvent> = raw
            .iter()
            .filter(|&&signal| {
                slot(signal).is_some_and(|index| ARRIVED[index].swap(false, Ordering::SeqCst))
            })
            .filter_map(|&signal| SignalEvent::from_raw(signal))
            .collect();
        // Wakes the hand-over thread, which ends.
        wake(0);
        let gravity = |event: &SignalEvent| match event {
            SignalEvent::Interrupt => 0,
            SignalEvent::Terminate => 1,
            _ => 2,
        };
        events.make_contiguous().sort_by_key(gravity);
        events
    }

    fn wake(byte: u8) {
        let fd = WAKE.load(Ordering::SeqCst);
        if fd >= 0 {
            // SAFETY: a one-byte write from a local to a descriptor this module owns
            // (the pipe's write end is never closed).
            unsafe { libc::write(fd, (&raw const byte).cast(), 1) };
        }
    }

    pub(super) fn hand_over() -> io::Result<()> {
        if LOOP_OWNS.load(Ordering::SeqCst) || WAKE.load(Ordering::SeqCst) >= 0 {
            return Ok(());
        }
        let (reader, writer) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
        rustix::fs::fcntl_setfl(&writer, rustix::fs::OFlags::NONBLOCK)?;
        // Kept for the life of the process: the handler may write at any time.
        WAKE.store(
            std::os::fd::IntoRawFd::into_raw_fd(writer),
            Ordering::SeqCst,
        );
        std::thread::Builder::new()
            .name("oslo-signals".to_owned())
            .spawn(move || hand_over_thread(reader))?;
        // What arrived between the last look at the flags and now.
        for (index, &signal) in HELD.iter().enumerate() {
            if ARRIVED[index].load(Ordering::SeqCst) {
                wake(signal as u8);
            }
        }
        Ok(())
    }

    /// Waits for the signals that arrive; each one that no launcher takes over within
    /// the grace, and that no handler of the program's has, takes its default action.
    fn hand_over_thread(reader: std::os::fd::OwnedFd) {
        let mut byte = [0u8; 1];
        loop {
            match rustix::io::read(&reader, &mut byte) {
                Ok(1) => {}
                Err(rustix::io::Errno::INTR) => continue,
                _ => return,
            }
            if LOOP_OWNS.load(Ordering::SeqCst) {
                return;
            }
            let signal = i32::from(byte[0]);
            let Some(index) = slot(signal) else { continue };
            let until = std::time::Instant::now() + HAND_OVER_GRACE;
            while std::time::Instant::now() < until {
                if LOOP_OWNS.load(Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            let ours = current_handler(signal) == Some(handler_address());
            if !ours || WAS_IGNORED[index].load(Ordering::SeqCst) {
                // The program handles it, or it was ignored from the start.
                ARRIVED[index].store(false, Ordering::SeqCst);
                continue;
            }
            if set_handler(signal, libc::SIG_DFL).is_ok() {
                // This thread never blocked it; the default action ends the process.
                // SAFETY: raise(3) sends the signal to this thread, nothing more.
                unsafe { libc::raise(signal) };
            }
        }
    }
}

/// SIGINT or SIGTERM, if one arrived after [`capture_early`] and before the signal loop
/// existed: a program still starting can leave at once, and cleanly.
pub(crate) fn stop_requested_early() -> Option<SignalEvent> {
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
