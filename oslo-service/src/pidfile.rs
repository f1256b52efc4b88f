//! `--pid-file PATH`: the pid of the launcher's top process, in a file, for systemd's
//! `PIDFile=` and init scripts.
//!
//! The file is written whole or not at all: a temporary file beside it, renamed over
//! it. A symbolic link, a directory or anything but a regular file at the path is
//! refused, and so is a path whose directory does not exist; nothing follows a link.
//! At exit the file is removed only if it still names this process: a successor's or
//! another program's is left alone.
//!
//! A binary upgrade moves it over as nginx does: the successor writes its pid once it is
//! ready, and the predecessor then writes its own to `PATH.oldbin`, which it removes at
//! its exit. A file that names another live process is overwritten, with a warning:
//! refusing would keep a service down whenever a stale file's pid was reused.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use rustix::fs::{Mode, OFlags};

/// The most of a pid file that is read: a pid and a newline need far less.
const MAX_READ: u64 = 64;

/// Why a pid file cannot be written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PidFileError {
    /// A symbolic link is never followed, nor replaced.
    #[error("pid file {0}: is a symbolic link, refusing to follow or replace it")]
    Symlink(PathBuf),
    /// A directory.
    #[error("pid file {0}: is a directory")]
    Directory(PathBuf),
    /// A socket, a device, a fifo: anything else that is no regular file.
    #[error("pid file {0}: is not a regular file")]
    NotAFile(PathBuf),
    /// The file cannot be created where its directory should be.
    #[error("pid file {path}: its directory {dir} does not exist")]
    NoDirectory {
        /// The pid file's path.
        path: PathBuf,
        /// Its directory.
        dir: PathBuf,
    },
    /// Any other failure to look at, write or rename it.
    #[error("pid file {path}: {error}")]
    Io {
        /// The pid file's path.
        path: PathBuf,
        /// What failed (in the message, not again as its source).
        error: io::Error,
    },
}

impl PidFileError {
    fn io(path: &Path, error: io::Error) -> Self {
        PidFileError::Io {
            path: path.to_owned(),
            error,
        }
    }
}

/// The directory `path` is created in (`.` for a bare name).
fn directory(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Whether a pid file may be written at `path`: nothing there yet, or a regular file,
/// in a directory that exists.
pub(crate) fn check(path: &Path) -> Result<(), PidFileError> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(PidFileError::Symlink(path.to_owned())),
        Ok(meta) if meta.is_dir() => Err(PidFileError::Directory(path.to_owned())),
        Ok(meta) if !meta.is_file() => Err(PidFileError::NotAFile(path.to_owned())),
        Ok(_) => Ok(()),
        Err(err)
            if matches!(
                err.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            let dir = directory(path);
            match std::fs::metadata(dir) {
                Ok(meta) if meta.is_dir() => Ok(()),
                _ => Err(PidFileError::NoDirectory {
                    path: path.to_owned(),
                    dir: dir.to_owned(),
                }),
            }
        }
        Err(err) => Err(PidFileError::io(path, err)),
    }
}

/// The pid a pid file names, if it is a regular file that holds one (never through a
/// link, and never more than a few bytes of it).
pub(crate) fn read(path: &Path) -> Option<u32> {
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK,
        Mode::empty(),
    )
    .ok()?;
    let file = File::from(fd);
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut text = String::new();
    file.take(MAX_READ).read_to_string(&mut text).ok()?;
    text.trim().parse().ok().filter(|&pid| pid > 0)
}

/// Writes `pid` to `path` whole: a new file beside it, renamed over it.
pub(crate) fn write(path: &Path, pid: u32) -> Result<(), PidFileError> {
    check(path)?;
    let name = path
        .file_name()
        .ok_or_else(|| PidFileError::NotAFile(path.to_owned()))?;
    let mut temp = OsString::from(".");
    temp.push(name);
    temp.push(format!(".{}.tmp", std::process::id()));
    let temp = directory(path).join(temp);
    let written = write_new(&temp, pid)
        .map_err(|err| PidFileError::io(path, err))
        // Checked again right before the rename, which would replace a link put there
        // meanwhile (never follow it): the link is to be left alone.
        .and_then(|()| check(path))
        .and_then(|()| std::fs::rename(&temp, path).map_err(|err| PidFileError::io(path, err)));
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

/// Creates `temp` (a leftover of a crashed process of the same pid is removed first)
/// and writes `pid` to it.
fn write_new(temp: &Path, pid: u32) -> io::Result<()> {
    let open = || {
        rustix::fs::open(
            temp,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        )
    };
    let fd = match open() {
        Err(rustix::io::Errno::EXIST) => {
            std::fs::remove_file(temp)?;
            open()?
        }
        other => other?,
    };
    let mut file = File::from(fd);
    file.write_all(format!("{pid}\n").as_bytes())?;
    file.sync_all()
}

/// Removes `path` if it names `pid`, and only then; says whether it did.
pub(crate) fn remove_if_ours(path: &Path, pid: u32) -> bool {
    let Ok(before) = std::fs::symlink_metadata(path) else {
        return false;
    };
    if read(path) != Some(pid) {
        return false;
    }
    // The same file still: not one renamed over it since it was read.
    let same = std::fs::symlink_metadata(path)
        .is_ok_and(|now| now.ino() == before.ino() && now.dev() == before.dev());
    same && std::fs::remove_file(path).is_ok()
}

/// `PATH.oldbin`, where an upgraded process's pid goes.
pub(crate) fn oldbin(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".oldbin");
    PathBuf::from(name)
}

/// Whether `pid` is a process that runs (or one this process may not signal).
fn is_running(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    !matches!(
        rustix::process::test_kill_process(pid),
        Err(rustix::io::Errno::SRCH)
    )
}

/// Writes this process's pid to `path`, saying so when the file named another process
/// that runs (other than `expected`, which is taking over from).
fn write_ours(path: &Path, expected: Option<u32>) -> Result<(), PidFileError> {
    let ours = std::process::id();
    if let Some(other) = read(path)
        && other != ours
        && Some(other) != expected
        && is_running(other)
    {
        tracing::warn!(
            path = %path.display(),
            pid = other,
            "the pid file names another running process; overwriting it"
        );
    }
    write(path, ours)
}

/// The pid file of this process, once the command line named one.
#[derive(Debug)]
struct Claimed {
    path: PathBuf,
    /// Written at start, or once ready (a successor); not yet in between.
    pending: bool,
}

static CLAIMED: Mutex<Option<Claimed>> = Mutex::new(None);

/// Removes this process's pid files at its exit (when dropped), those that still name
/// it.
#[derive(Debug)]
#[must_use = "the pid file is removed when this is dropped"]
pub(crate) struct Release(());

impl Drop for Release {
    fn drop(&mut self) {
        let claimed = CLAIMED
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(claimed) = claimed {
            let ours = std::process::id();
            remove_if_ours(&claimed.path, ours);
            remove_if_ours(&oldbin(&claimed.path), ours);
        }
    }
}

/// Takes `path` as this process's pid file: written now, or, when `later` (the
/// successor of an upgrade, until it is ready), only checked now and written by
/// [`write_when_ready`].
pub(crate) fn claim(path: PathBuf, later: bool) -> Result<Release, PidFileError> {
    if later {
        check(&path)?;
    } else {
        write_ours(&path, None)?;
    }
    *CLAIMED.lock().unwrap_or_else(PoisonError::into_inner) = Some(Claimed {
        path,
        pending: later,
    });
    Ok(Release(()))
}

/// In the successor of an upgrade, once it is ready: its pid goes into the pid file
/// over its predecessor's (its parent). Does nothing without a pid file, or twice.
pub(crate) fn write_when_ready() {
    let mut claimed = CLAIMED.lock().unwrap_or_else(PoisonError::into_inner);
    let Some(claimed) = claimed.as_mut().filter(|c| c.pending) else {
        return;
    };
    claimed.pending = false;
    let predecessor = rustix::process::getppid().map(|pid| pid.as_raw_pid().unsigned_abs());
    if let Err(err) = write_ours(&claimed.path, predecessor) {
        tracing::error!("{err}");
    }
}

/// In the predecessor of an upgrade, once its successor is ready (and has written the
/// pid file): this process's pid goes to `PATH.oldbin` until it exits.
pub(crate) fn move_to_oldbin() {
    let claimed = CLAIMED.lock().unwrap_or_else(PoisonError::into_inner);
    let Some(claimed) = claimed.as_ref() else {
        return;
    };
    if let Err(err) = write(&oldbin(&claimed.path), std::process::id()) {
        tracing::error!("{err}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_pid_whole_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("svc.pid");
        write(&path, 1234).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "1234\n");
        assert_eq!(read(&path), Some(1234));
        write(&path, 99).unwrap();
        assert_eq!(read(&path), Some(99));
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["svc.pid"]);
    }

    #[test]
    fn a_symlink_is_refused_and_neither_it_nor_its_target_is_touched() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, "precious").unwrap();
        let path = dir.path().join("svc.pid");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        let err = write(&path, 1234).unwrap_err();
        assert!(matches!(err, PidFileError::Symlink(_)), "{err}");
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
        assert_eq!(std::fs::read_link(&path).unwrap(), target);
        // Nor is it read through, or removed.
        std::fs::write(&target, "1234\n").unwrap();
        assert_eq!(read(&path), None);
        assert!(!remove_if_ours(&path, 1234));
        assert!(std::fs::symlink_metadata(&path).is_ok());
        // A dangling link too.
        std::fs::remove_file(&target).unwrap();
        assert!(matches!(write(&path, 1), Err(PidFileError::Symlink(_))));
        assert!(!target.exists());
    }

    #[test]
    fn a_directory_or_a_missing_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = write(dir.path(), 1).unwrap_err();
        assert!(matches!(err, PidFileError::Directory(_)), "{err}");
        let path = dir.path().join("nowhere").join("svc.pid");
        let err = write(&path, 1).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "pid file {}: its directory {} does not exist",
                path.display(),
                dir.path().join("nowhere").display()
            )
        );
        // A file where the directory should be.
        std::fs::write(dir.path().join("file"), "").unwrap();
        let path = dir.path().join("file").join("svc.pid");
        assert!(matches!(
            write(&path, 1),
            Err(PidFileError::NoDirectory { .. })
        ));
    }

    #[test]
    fn removed_only_while_it_names_us() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("svc.pid");
        assert!(!remove_if_ours(&path, 7));
        std::fs::write(&path, "8\n").unwrap();
        assert!(!remove_if_ours(&path, 7));
        assert!(path.exists());
        std::fs::write(&path, "7\n").unwrap();
        assert!(remove_if_ours(&path, 7));
        assert!(!path.exists());
    }

    #[test]
    fn garbage_names_no_pid_and_only_a_few_bytes_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("svc.pid");
        for text in ["", "abc", "-3", "0", "99999999999999999999", "12 13"] {
            std::fs::write(&path, text).unwrap();
            assert_eq!(read(&path), None, "{text:?}");
        }
        std::fs::write(&path, format!("12{}", " ".repeat(1 << 20))).unwrap();
        assert_eq!(read(&path), Some(12));
        std::fs::write(&path, format!("{}12", " ".repeat(1 << 20))).unwrap();
        assert_eq!(read(&path), None);
    }

    #[test]
    fn oldbin_is_beside_it() {
        assert_eq!(
            oldbin(Path::new("/run/svc.pid")),
            Path::new("/run/svc.pid.oldbin")
        );
    }

    #[test]
    fn a_bare_name_is_written_in_the_current_directory() {
        assert_eq!(directory(Path::new("svc.pid")), Path::new("."));
        assert_eq!(directory(Path::new("/svc.pid")), Path::new("/"));
    }
}
