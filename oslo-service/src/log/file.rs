//! The log file: appended to, reopened on demand (logrotate moved it away and sent
//! SIGHUP), and with `watch_log_file` reopened by itself when it was moved or deleted.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

/// A log file that knows its path.
#[derive(Debug)]
pub(crate) struct LogFile {
    path: PathBuf,
    watch: bool,
    open: Mutex<Opened>,
}

#[derive(Debug)]
struct Opened {
    file: File,
    /// Device and inode of `file`, to tell whether `path` still names it.
    id: (u64, u64),
}

impl LogFile {
    /// Opens `path` for appending, creating it. With `watch`, each write first checks
    /// that the path still names the open file, and reopens it if not.
    pub(crate) fn open(path: &Path, watch: bool) -> io::Result<Self> {
        Ok(LogFile {
            path: path.to_owned(),
            watch,
            open: Mutex::new(Opened::at(path)?),
        })
    }

    /// Opens the path again: the file written to from now on is the one it names now.
    pub(crate) fn reopen(&self) -> io::Result<()> {
        let fresh = Opened::at(&self.path)?;
        *self.open.lock().unwrap_or_else(PoisonError::into_inner) = fresh;
        Ok(())
    }

    /// Whether the path no longer names the open file (moved, deleted, replaced).
    fn moved(&self, open: &Opened) -> bool {
        std::fs::metadata(&self.path).map_or(true, |meta| (meta.dev(), meta.ino()) != open.id)
    }
}

impl Opened {
    fn at(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        // The workers append to it as well, and may reopen it.
        crate::privileges::hand_to_workers(&file)?;
        let meta = file.metadata()?;
        Ok(Opened {
            id: (meta.dev(), meta.ino()),
            file,
        })
    }
}

impl Write for &LogFile {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if self.watch && self.moved(&open) {
            // Keep writing to the old file if the path cannot be opened again.
            if let Ok(fresh) = Opened::at(&self.path) {
                *open = fresh;
            }
        }
        open.file.write(bytes)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .file
            .flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watched_file_moved_or_deleted_is_reopened_and_an_unwatched_one_on_demand() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("svc.log");
        let watched = LogFile::open(&path, true).unwrap();
        (&watched).write_all(b"one\n").unwrap();
        std::fs::rename(&path, dir.path().join("svc.log.1")).unwrap();
        (&watched).write_all(b"two\n").unwrap();
        std::fs::remove_file(&path).unwrap();
        (&watched).write_all(b"three\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("svc.log.1")).unwrap(),
            "one\n"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "three\n");

        let other = dir.path().join("other.log");
        let unwatched = LogFile::open(&other, false).unwrap();
        std::fs::rename(&other, dir.path().join("other.log.1")).unwrap();
        (&unwatched).write_all(b"to the moved file\n").unwrap();
        unwatched.reopen().unwrap();
        (&unwatched).write_all(b"to the new file\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("other.log.1")).unwrap(),
            "to the moved file\n"
        );
        assert_eq!(
            std::fs::read_to_string(&other).unwrap(),
            "to the new file\n"
        );
    }
}
