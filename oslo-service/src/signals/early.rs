//! The signals caught before the loop existed. The handler is a plain sigaction, not
//! signal-hook's registry: when a launcher (or the program) registers there later, the
//! registry installs its own handler over it, and calls this one before its own.
//!
//! Everything here speaks raw signal numbers; the loop turns them into events.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Mutex, PoisonError};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use super::mask::unblock;

/// Takes over SIGTERM and SIGHUP (and SIGINT, unless `worker`) for the time before the
/// process's [`SignalLoop`](super::SignalLoop) exists, so that none of them takes its
/// default action (the end of the process, without a word) while the program starts:
/// each one that arrives is kept, and the signal loop handles it first once installed.
/// Then unblocks them, for a process started with them blocked (the launcher starts its
/// workers so).
///
/// `#[oslo::main]` calls it before `main`, and leaves at once (exit 0 for SIGTERM, 1 for
/// SIGINT) when one came while it read the command line and the configuration. Once it
/// runs the program's own `main`, it calls [`hand_over`]: from then on a signal that no
/// launcher takes over within a moment ends the process as it would any program. A
/// worker leaves SIGINT alone: its parent set it to be ignored.
pub(crate) fn capture_early(worker: bool) -> io::Result<()> {
    let taken: &[i32] = if worker {
        &[SIGTERM, SIGHUP]
    } else {
        &[SIGTERM, SIGINT, SIGHUP]
    };
    capture(taken)?;
    unblock(taken)
}

/// How long a signal waits for a launcher to take it over, after [`hand_over`].
const HAND_OVER_GRACE: std::time::Duration = std::time::Duration::from_millis(80);

/// The signals this module may hold, in a fixed order.
const HELD: [i32; 3] = [SIGTERM, SIGINT, SIGHUP];

/// The bookkeeping of the signals held: plain atomics, so that the handler may touch
/// them. One instance serves the process ([`STATE`]); tests make their own.
struct Pending {
    /// Whether each of [`HELD`] is taken over, arrived, was ignored when the process
    /// started (then it stays ignored once handed over).
    taken: [AtomicBool; 3],
    arrived: [AtomicBool; 3],
    was_ignored: [AtomicBool; 3],
    /// A signal loop took the signals over: the handler has nothing more to do.
    loop_owns: AtomicBool,
}

impl Pending {
    const fn new() -> Self {
        Pending {
            taken: [const { AtomicBool::new(false) }; 3],
            arrived: [const { AtomicBool::new(false) }; 3],
            was_ignored: [const { AtomicBool::new(false) }; 3],
            loop_owns: AtomicBool::new(false),
        }
    }

    fn loop_owns(&self) -> bool {
        self.loop_owns.load(Ordering::SeqCst)
    }

    /// What the handler does: `signal` arrived. False when it is none of ours, or the
    /// loop has it already. Async-signal-safe: atomics only.
    fn record(&self, signal: i32) -> bool {
        let Some(index) = slot(signal) else {
            return false;
        };
        if self.loop_owns() {
            return false;
        }
        self.arrived[index].store(true, Ordering::SeqCst);
        true
    }

    /// Whether `signal` still needs its handler installed.
    fn needs_capture(&self, index: usize) -> bool {
        !self.taken[index].load(Ordering::SeqCst) && !self.loop_owns()
    }

    fn mark_taken(&self, index: usize, was_ignored: bool) {
        self.was_ignored[index].store(was_ignored, Ordering::SeqCst);
        self.taken[index].store(true, Ordering::SeqCst);
    }

    /// SIGINT or SIGTERM, if one arrived early (and is still waiting for the loop).
    fn stop_requested(&self) -> Option<i32> {
        [SIGINT, SIGTERM].into_iter().find(|&wanted| {
            slot(wanted).is_some_and(|index| {
                self.taken[index].load(Ordering::SeqCst)
                    && self.arrived[index].load(Ordering::SeqCst)
            })
        })
    }

    /// The signals of `raw` that arrived, gravest first (SIGINT, SIGTERM, then the
    /// rest), each forgotten here; from now on the loop has them.
    fn take(&self, raw: &[i32]) -> Vec<i32> {
        self.loop_owns.store(true, Ordering::SeqCst);
        let mut signals: Vec<i32> = raw
            .iter()
            .copied()
            .filter(|&signal| {
                slot(signal).is_some_and(|index| self.arrived[index].swap(false, Ordering::SeqCst))
            })
            .collect();
        let gravity = |signal: &i32| match *signal {
            SIGINT => 0,
            SIGTERM => 1,
            _ => 2,
        };
        signals.sort_by_key(gravity);
        signals
    }
}

static STATE: Pending = Pending::new();
/// The write end of the pipe that wakes the hand-over thread; -1 before.
static WAKE: AtomicI32 = AtomicI32::new(-1);
static CAPTURE: Mutex<()> = Mutex::new(());

fn slot(signal: i32) -> Option<usize> {
    HELD.iter().position(|&held| held == signal)
}

extern "C" fn on_signal(signal: libc::c_int) {
    if !STATE.record(signal) {
        return;
    }
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

fn capture(raw: &[i32]) -> io::Result<()> {
    let _once = CAPTURE.lock().unwrap_or_else(PoisonError::into_inner);
    for &signal in raw {
        let Some(index) = slot(signal) else { continue };
        if !STATE.needs_capture(index) {
            continue;
        }
        let old = set_handler(signal, handler_address())?;
        STATE.mark_taken(index, old == libc::SIG_IGN);
    }
    Ok(())
}

/// SIGINT or SIGTERM, if one arrived after [`capture_early`] and before the signal loop
/// existed.
pub(super) fn stop_requested() -> Option<i32> {
    STATE.stop_requested()
}

/// The signals of `raw` that arrived early, gravest first; from now on the loop's
/// own handler (installed before this) has them. A signal landing between the
/// loop's registration and this may be seen twice: the second asks for what the
/// first already does.
pub(super) fn take(raw: &[i32]) -> Vec<i32> {
    let signals = STATE.take(raw);
    // Wakes the hand-over thread, which ends.
    wake(0);
    signals
}

fn wake(byte: u8) {
    let fd = WAKE.load(Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: a one-byte write from a local to a descriptor this module owns
        // (the pipe's write end is never closed).
        unsafe { libc::write(fd, (&raw const byte).cast(), 1) };
    }
}

/// Hands the signals [`capture_early`] holds back to the program, for a program that
/// may never start a launcher (a `nova-manage`-style tool): a SIGTERM, SIGINT or SIGHUP
/// that no launcher has taken over [`HAND_OVER_GRACE`] after it arrived takes its usual
/// action (the process ends by that signal: a shell shows 143, 130 or 129), unless the
/// program installed a handler of its own for it (`tokio::signal::ctrl_c()`, say),
/// which then has it alone. A launcher started within the grace handles it as always.
/// `#[oslo::main]` calls it right before the program's `main`.
pub(crate) fn hand_over() -> io::Result<()> {
    if STATE.loop_owns() || WAKE.load(Ordering::SeqCst) >= 0 {
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
        if STATE.arrived[index].load(Ordering::SeqCst) {
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
        if STATE.loop_owns() {
            return;
        }
        let signal = i32::from(byte[0]);
        let Some(index) = slot(signal) else { continue };
        let until = std::time::Instant::now() + HAND_OVER_GRACE;
        while std::time::Instant::now() < until {
            if STATE.loop_owns() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let ours = current_handler(signal) == Some(handler_address());
        if !ours || STATE.was_ignored[index].load(Ordering::SeqCst) {
            // The program handles it, or it was ignored from the start.
            STATE.arrived[index].store(false, Ordering::SeqCst);
            continue;
        }
        if set_handler(signal, libc::SIG_DFL).is_ok() {
            // This thread never blocked it; the default action ends the process.
            // SAFETY: raise(3) sends the signal to this thread, nothing more.
            unsafe { libc::raise(signal) };
        }
    }
}

#[cfg(test)]
mod tests;
