//! Starting one worker: `/proc/self/exe` again, with the parent's own argv, the worker
//! marker, the shared sockets and the control socket, and the parent-death signal.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::Command;

use rustix::process::{Pid, Signal};

use super::worker::{Marker, WORKER_ENV};
use crate::net::{self, LISTEN_ENV};
use crate::signals;

/// The program a worker runs: the very build the parent runs, even if the file on disk
/// was replaced since the parent started.
const SELF_EXE: &str = "/proc/self/exe";

/// A worker that was started.
#[derive(Debug)]
pub(super) struct Spawned {
    pub pid: Pid,
    /// The parent's end of the control socket; the worker sees end-of-file on its own
    /// end once every copy of this one is closed.
    pub control: UnixStream,
}

/// Which worker to start.
#[derive(Clone, Copy, Debug)]
pub(super) struct WorkerSpec<'a> {
    pub service: usize,
    pub name: &'a str,
    pub worker: usize,
    /// How many workers the parent runs in all, to give this one its share of the cores.
    pub workers_in_all: usize,
}

/// The threads a worker's runtime runs by default: the machine's cores shared among
/// the workers, at least one. Four workers on two cores run one thread each, not two.
pub(super) fn thread_share(workers_in_all: usize, cores: usize) -> usize {
    (cores / workers_in_all.max(1)).max(1)
}

/// Starts one worker process.
pub(super) fn spawn(spec: WorkerSpec<'_>) -> io::Result<Spawned> {
    // Both ends are close-on-exec: only the worker's own copy of its end is made
    // inheritable, in the worker between fork and exec.
    let (control, worker_end) = UnixStream::pair()?;
    let parent = rustix::process::getpid();
    let marker = Marker {
        service: spec.service,
        worker: spec.worker,
        control: worker_end.as_raw_fd(),
        parent: parent.as_raw_pid(),
        threads: thread_share(
            spec.workers_in_all,
            std::thread::available_parallelism().map_or(1, usize::from),
        ),
        name: spec.name.to_owned(),
    };
    let (sockets_env, mut inherit) = net::shared();
    inherit.push(worker_end.as_raw_fd());

    let mut argv = std::env::args_os();
    let argv0 = argv.next().unwrap_or_else(|| OsString::from(spec.name));
    let mut command = Command::new(SELF_EXE);
    command
        .arg0(argv0)
        .args(argv)
        .env(WORKER_ENV, marker.encode())
        .env(LISTEN_ENV, sockets_env)
        // Workers never notify systemd, and systemd's sockets are the parent's.
        .env_remove("NOTIFY_SOCKET");
    for name in net::SYSTEMD_ENV {
        command.env_remove(name);
    }
    // Looked up at start: the child only makes the calls.
    let identity = crate::privileges::workers().cloned();
    // SAFETY: `prepare_worker` only makes async-signal-safe system calls (setgroups,
    // setgid, setuid, prctl, getppid, fcntl, signal, pthread_sigmask) on values
    // computed before the fork; it allocates nothing.
    unsafe {
        command.pre_exec(move || prepare_worker(parent, identity.as_ref(), &inherit));
    }
    let child = command.spawn()?;
    drop(worker_end);
    Ok(Spawned {
        pid: Pid::from_child(&child),
        control,
    })
}

/// Runs in the new process between fork and exec.
fn prepare_worker(
    parent: Pid,
    identity: Option<&crate::privileges::Identity>,
    inherit: &[RawFd],
) -> io::Result<()> {
    // `[DEFAULT] user` and `group`, before anything of the program runs here. First, as
    // a change of user clears the parent-death signal.
    if let Some(identity) = identity {
        crate::privileges::become_identity(identity)?;
    }
    // The kernel signals the worker when the parent dies; the setting survives exec.
    // Strictly, it fires when the forking *thread* ends, and a parent killed outright
    // ends its threads one by one: the worker may get the signal while its parent pid is
    // still that of the dying process. So it is a signal of its own (SIGUSR2), not
    // SIGTERM, which would read as a graceful stop: the worker exits on it once it sees
    // itself adopted, and otherwise leaves it to the control socket's end-of-file.
    rustix::process::set_parent_process_death_signal(Some(Signal::USR2))?;
    // The parent may have died before the line above took effect: then no signal will
    // ever come, so give up now.
    if rustix::process::getppid() != Some(parent) {
        return Err(rustix::io::Errno::SRCH.into());
    }
    for &fd in inherit {
        // SAFETY: `fd` is open in the parent (a shared socket or the worker's end of the
        // control socket, kept alive by the parent across the spawn), hence here too.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty())?;
    }
    // A Ctrl-C reaches the whole process group; the parent alone acts on it. An ignored
    // disposition survives exec, so the worker is never without it.
    // SAFETY: setting SIGINT to SIG_IGN installs no handler and touches no memory.
    if unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) } == libc::SIG_ERR {
        return Err(io::Error::last_os_error());
    }
    // SIGTERM and SIGHUP stay blocked across exec until the worker's handlers are in
    // place (`signals::capture_early`): one sent while it starts waits instead of ending
    // it by the default action.
    signals::block(&[libc::SIGTERM, libc::SIGHUP])
}

#[cfg(test)]
mod tests {
    use super::thread_share;

    #[test]
    fn workers_share_the_cores_and_each_keeps_one_thread() {
        assert_eq!(thread_share(4, 2), 1);
        assert_eq!(thread_share(2, 2), 1);
        assert_eq!(thread_share(2, 16), 8);
        assert_eq!(thread_share(3, 16), 5);
        assert_eq!(thread_share(1, 8), 8);
        assert_eq!(thread_share(0, 8), 8);
    }
}
