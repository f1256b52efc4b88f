//! A launcher running as PID 1 (a container's first process) is the reaper of every
//! process of its namespace that lost its parent: a worker's own children, a script's
//! background jobs. It reaps them as tini would, without taking the exit status of a
//! child its launcher waits for itself (a worker, an upgrade's successor).

use std::io;

/// Whether this process is its PID namespace's init, which adopts the orphans.
pub(crate) fn is_init() -> bool {
    std::process::id() == 1
}

/// The most orphans reaped in one call, so that a namespace forking without end
/// cannot hold the launcher's loop; the next SIGCHLD calls again.
const MOST_AT_ONCE: usize = 4096;

/// Reaps every exited child for which `ours` is false; the children `ours` names are
/// left for their owner's own waitpid. Call on SIGCHLD, after the owners reaped theirs.
pub(crate) fn reap(ours: impl Fn(i32) -> bool) {
    for _ in 0..MOST_AT_ONCE {
        match exited_child() {
            Ok(None) => return,
            Ok(Some(pid)) if !ours(pid) => reap_one(pid),
            // One of ours is not reaped yet, and waitid would name it again: the other
            // children are looked for by name.
            Ok(Some(_)) => return reap_listed(&ours),
            Err(err) => {
                // ECHILD: no child at all.
                if err.raw_os_error() != Some(libc::ECHILD) {
                    tracing::warn!(error = %err, "cannot look for exited orphans");
                }
                return;
            }
        }
    }
}

/// A child that exited, left a zombie: `waitid(P_ALL, WEXITED | WNOHANG | WNOWAIT)`
/// only looks.
fn exited_child() -> io::Result<Option<i32>> {
    // SAFETY: `siginfo_t` is plain C data; all zeroes is what waitid's WNOHANG leaves
    // when no child is waitable.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is a live siginfo_t the call writes.
    let code = unsafe {
        libc::waitid(
            libc::P_ALL,
            0,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    if code != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: waitid filled `info` as a SIGCHLD's (or left it zeroed: pid 0).
    let pid = unsafe { info.si_pid() };
    Ok((pid > 0).then_some(pid))
}

fn reap_one(pid: i32) {
    let Some(raw) = rustix::process::Pid::from_raw(pid) else {
        return;
    };
    if let Ok(Some((_, status))) =
        rustix::process::waitpid(Some(raw), rustix::process::WaitOptions::NOHANG)
    {
        tracing::debug!(
            pid,
            status = status.exit_status(),
            signal = status.terminating_signal(),
            "reaped an orphan"
        );
    }
}

/// Reaps the exited children that are not ours, found in `/proc/self/task/*/children`
/// (an orphan is adopted by any thread of the init process).
fn reap_listed(ours: &impl Fn(i32) -> bool) {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return;
    };
    for task in tasks.flatten().take(MOST_AT_ONCE) {
        let Ok(children) = std::fs::read_to_string(task.path().join("children")) else {
            continue;
        };
        for pid in children
            .split_whitespace()
            .filter_map(|pid| pid.parse::<i32>().ok())
            .take(MOST_AT_ONCE)
        {
            if !ours(pid) {
                // A child still running stays: WNOHANG.
                reap_one(pid);
            }
        }
    }
}
