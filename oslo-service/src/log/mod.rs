//! Logging set-up from the configuration's logging options ([`LogOptions`]: `debug`,
//! `log_file`, `log_dir`, `use_stderr`, `use_json`, `watch_log_file`, `use_journal`,
//! `use_syslog`, `syslog_log_facility`, `default_log_levels`), re-applied whole at run
//! time: call [`setup`] again from a service's `reset` hook after a SIGHUP. The launchers
//! [`reopen`] the log file on every SIGHUP, for logrotate's move-then-HUP.
//!
//! Output: to `log_file` (relative to `log_dir` when both are set), or to
//! `<log_dir>/<program>.log` when only `log_dir` is set, appended to; with
//! `use_stderr` to standard error as well. Without a file, to standard error. With
//! `use_json`, one JSON object per line (tracing-subscriber's JSON format). With
//! `watch_log_file`, a log file moved or deleted is reopened at the next line. With
//! `use_journal`, to the systemd journal as well (tracing-journald: the level as
//! `PRIORITY`, `TARGET`, `CODE_FILE`, `CODE_LINE`, the program as `SYSLOG_IDENTIFIER`,
//! span fields as `S<n>_<NAME>` and the event's own as `F_<NAME>`; journald adds the
//! sender's `_PID`). With `use_syslog`, each line to syslog as well (`/dev/log`,
//! `<PRI>program[pid]: line`, the facility from `syslog_log_facility`).

mod file;
mod switch;
mod syslog;

use std::io::{self, Write};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use tracing::Level;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;
use tracing_subscriber::{Registry, reload};

use crate::config::{Config, InvalidValue, LogOptions};
use crate::error::{Error, Result};
use file::LogFile;
use switch::Switch;
use syslog::Syslog;

/// What a later [`setup`] changes in the subscriber the first one installed: the
/// levels, the format, and where the lines go.
struct Installed {
    levels: reload::Handle<Targets, Registry>,
    json: Arc<AtomicBool>,
    text: Arc<AtomicBool>,
    /// Whether lines go to the journal; it can only be on when the first set-up asked
    /// for the journal (see [`journal_layer`]).
    journal: Arc<AtomicBool>,
    journal_installed: bool,
}

static INSTALLED: OnceLock<Installed> = OnceLock::new();

/// Where the lines go now.
static TARGET: Mutex<Target> = Mutex::new(Target {
    file: None,
    stderr: true,
    syslog: None,
    level: Level::INFO,
});

#[derive(Clone)]
struct Target {
    file: Option<Arc<LogFile>>,
    stderr: bool,
    syslog: Option<Arc<Syslog>>,
    /// The level of the line being written, for its syslog priority.
    level: Level,
}

/// Installs the process's log output as the configuration says: `[DEFAULT] debug =
/// true` logs at DEBUG, otherwise INFO, and `default_log_levels` (`target=LEVEL` pairs)
/// set the levels of other crates; `log_file`, `log_dir`, `use_stderr`, `use_json`,
/// `watch_log_file`, `use_syslog`, `syslog_log_facility` and `use_journal` say where
/// and how. A second call applies the current configuration to all of it: levels, file,
/// directory, format and syslog; the journal only when the first call had it (it must
/// see every span from the start), otherwise a warning says it takes a restart.
///
/// A journal or syslog daemon that cannot be reached when its option is on, or an
/// unknown `syslog_log_facility`, is an error.
///
/// `#[oslo::main]` calls it once at start; a service calls it again in `reset`:
///
/// ```
/// # async fn reset(cx: &oslo::Context) -> oslo::Result<()> {
/// oslo::log::setup(cx.conf(), "poller")
/// # }
/// ```
///
/// When another global subscriber was installed first, the process keeps that one and
/// this does nothing.
pub fn setup(conf: &Config, program: &str) -> Result<()> {
    let options = conf.group::<LogOptions>()?;
    let levels = levels(&options)?;
    let target = target(conf, &options, program)?;
    if let Some(installed) = INSTALLED.get() {
        installed
            .levels
            .reload(levels)
            .map_err(|err| Error::Launch(format!("cannot change log levels: {err}")))?;
        *TARGET.lock().unwrap_or_else(PoisonError::into_inner) = target;
        installed.json.store(options.use_json, Ordering::Relaxed);
        installed.text.store(!options.use_json, Ordering::Relaxed);
        if options.use_journal && !installed.journal_installed {
            tracing::warn!(
                "use_journal is read at start: restart the service to log to the journal"
            );
        }
        installed.journal.store(
            options.use_journal && installed.journal_installed,
            Ordering::Relaxed,
        );
        tracing::debug!(program, debug = options.debug, "log set-up re-applied");
        return Ok(());
    }
    let json = Arc::new(AtomicBool::new(options.use_json));
    let text = Arc::new(AtomicBool::new(!options.use_json));
    let journal_layer = journal_layer(&options, program)?;
    let journal_installed = journal_layer.is_some();
    let journal = Arc::new(AtomicBool::new(journal_installed));
    let (levels, levels_handle) = reload::Layer::new(levels);
    let subscriber = tracing_subscriber::registry()
        .with(levels)
        .with(Switch {
            inner: tracing_subscriber::fmt::layer().with_writer(CurrentTarget),
            on: Arc::clone(&text),
        })
        .with(Switch {
            inner: tracing_subscriber::fmt::layer()
                .json()
                .with_writer(CurrentTarget),
            on: Arc::clone(&json),
        })
        .with(Switch {
            inner: journal_layer,
            on: Arc::clone(&journal),
        });
    if subscriber.try_init().is_ok() {
        *TARGET.lock().unwrap_or_else(PoisonError::into_inner) = target;
        // A concurrent first call loses the race to `try_init` above, so this is the
        // only `set`.
        let _ = INSTALLED.set(Installed {
            levels: levels_handle,
            json,
            text,
            journal,
            journal_installed,
        });
    }
    Ok(())
}

/// The journal's layer when `use_journal` is on. Installed at the first set-up only:
/// it keeps each span's fields in the span, so it cannot join once spans exist.
fn journal_layer(options: &LogOptions, program: &str) -> Result<Option<tracing_journald::Layer>> {
    if !options.use_journal {
        return Ok(None);
    }
    let layer = tracing_journald::Layer::new().map_err(|err| {
        Error::io(
            "use_journal: cannot reach the journal at /run/systemd/journal/socket",
            err,
        )
    })?;
    Ok(Some(layer.with_syslog_identifier(program.to_owned())))
}

/// The log filter in force, as `level,target=level,…` (`None` before [`setup`]).
///
/// ```
/// let filter = oslo::log::current_filter();
/// # drop(filter);
/// ```
pub fn current_filter() -> Option<String> {
    let installed = INSTALLED.get()?;
    installed.levels.with_current(ToString::to_string).ok()
}

/// Replaces the log filter at run time with `filter` (`debug`, or
/// `info,oslo::wsgi::access=warn`), until the next [`setup`] re-applies the configured
/// levels (a SIGHUP does). The debug console's `loglevel` command calls it.
pub fn set_filter(filter: &str) -> Result<()> {
    let targets: Targets = filter
        .parse()
        .map_err(|err| Error::Launch(format!("invalid log filter '{filter}': {err}")))?;
    let installed = INSTALLED
        .get()
        .ok_or_else(|| Error::Launch("logging is not set up by oslo::log::setup".to_owned()))?;
    installed
        .levels
        .reload(targets)
        .map_err(|err| Error::Launch(format!("cannot change log levels: {err}")))
}

/// Sets the log levels back to what the configuration says (after a [`set_filter`]);
/// the launchers call it on every accepted reload. Before [`setup`] it does nothing.
pub(crate) fn reapply_levels(conf: &Config) -> Result<()> {
    let Some(installed) = INSTALLED.get() else {
        return Ok(());
    };
    let levels = levels(&*conf.group::<LogOptions>()?)?;
    installed
        .levels
        .reload(levels)
        .map_err(|err| Error::Launch(format!("cannot change log levels: {err}")))
}

/// Checks the logging options without applying them (for `--check-config`): the
/// levels and the syslog facility read, nothing opened.
pub(crate) fn check(conf: &Config) -> Result<()> {
    let options = conf.group::<LogOptions>()?;
    levels(&options)?;
    facility(conf, &options)?;
    Ok(())
}

/// `syslog_log_facility` read, or an error naming where it was written.
fn facility(conf: &Config, options: &LogOptions) -> Result<u8> {
    let facility = syslog::facility(&options.syslog_log_facility).map_err(|reason| {
        InvalidValue::in_snapshot(
            &conf.snapshot(),
            "DEFAULT",
            "syslog_log_facility",
            &options.syslog_log_facility,
            reason,
        )
    })?;
    Ok(facility)
}

/// Opens the log file again, if the log goes to one: after logrotate moved it away, the
/// log goes on in a new file of the same name. The launchers call it on every SIGHUP.
pub fn reopen() {
    let file = TARGET
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .file
        .clone();
    if let Some(file) = file {
        if let Err(err) = file.reopen() {
            tracing::error!(error = %err, "cannot reopen the log file");
        }
    }
}

/// Where the options send the lines.
fn target(conf: &Config, options: &LogOptions, program: &str) -> Result<Target> {
    let syslog = if options.use_syslog {
        let facility = facility(conf, options)?;
        let syslog = Syslog::open(facility, program).map_err(|err| {
            Error::io(
                format!("use_syslog: cannot reach syslog at {}", syslog::SYSLOG_PATH),
                err,
            )
        })?;
        Some(Arc::new(syslog))
    } else {
        None
    };
    let Some(path) = log_path(options, program) else {
        return Ok(Target {
            file: None,
            stderr: true,
            syslog,
            level: Level::INFO,
        });
    };
    let file = LogFile::open(&path, options.watch_log_file)
        .map_err(|err| Error::io(format!("cannot open log file {}", path.display()), err))?;
    Ok(Target {
        file: Some(Arc::new(file)),
        stderr: options.use_stderr,
        syslog,
        level: Level::INFO,
    })
}

/// Writes each line where [`TARGET`] says at that moment.
struct CurrentTarget;

impl<'a> MakeWriter<'a> for CurrentTarget {
    type Writer = Target;

    fn make_writer(&'a self) -> Target {
        TARGET
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Target {
        Target {
            level: *meta.level(),
            ..self.make_writer()
        }
    }
}

impl Write for Target {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if let Some(file) = &self.file {
            (&**file).write_all(bytes)?;
        }
        if self.stderr {
            io::stderr().write_all(bytes)?;
        }
        if let Some(syslog) = &self.syslog {
            syslog.send(self.level, bytes);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if let Some(file) = &self.file {
            (&**file).flush()?;
        }
        io::stderr().flush()
    }
}

/// Where the log goes, if to a file.
fn log_path(options: &LogOptions, program: &str) -> Option<PathBuf> {
    match (&options.log_file, &options.log_dir) {
        (Some(file), Some(dir)) => Some(PathBuf::from(dir).join(file)),
        (Some(file), None) => Some(PathBuf::from(file)),
        (None, Some(dir)) => Some(PathBuf::from(dir).join(format!("{program}.log"))),
        (None, None) => None,
    }
}

fn levels(options: &LogOptions) -> Result<Targets> {
    let level = if options.debug {
        LevelFilter::DEBUG
    } else {
        LevelFilter::INFO
    };
    let mut targets = Targets::new().with_default(level);
    for pair in &options.default_log_levels {
        let parsed = pair.split_once('=').and_then(|(target, level)| {
            Some((target.trim(), LevelFilter::from_str(level.trim()).ok()?))
        });
        match parsed {
            Some((target, level)) if !target.is_empty() => {
                targets = targets.with_target(target.to_owned(), level);
            }
            _ => {
                return Err(Error::Launch(format!(
                    "invalid entry '{pair}' in default_log_levels: expected target=LEVEL"
                )));
            }
        }
    }
    Ok(targets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Snapshot;

    fn options(ini: &str) -> LogOptions {
        Snapshot::from_ini(ini, None)
            .unwrap()
            .group::<LogOptions>()
            .unwrap()
            .as_ref()
            .clone()
    }

    #[test]
    fn file_from_log_file_and_log_dir() {
        let none = options("[DEFAULT]\n");
        assert_eq!(log_path(&none, "svc"), None);
        let dir = options("[DEFAULT]\nlog_dir = /var/log/x\n");
        assert_eq!(
            log_path(&dir, "svc"),
            Some(PathBuf::from("/var/log/x/svc.log"))
        );
        let both = options("[DEFAULT]\nlog_dir = /var/log/x\nlog_file = a.log\n");
        assert_eq!(
            log_path(&both, "svc"),
            Some(PathBuf::from("/var/log/x/a.log"))
        );
    }

    #[test]
    fn levels_from_debug_and_default_log_levels() {
        let targets = levels(&options(
            "[DEFAULT]\ndebug = true\ndefault_log_levels = h2=WARN, a::b=error\n",
        ))
        .unwrap();
        assert!(targets.would_enable("svc", &tracing::Level::DEBUG));
        assert!(!targets.would_enable("h2", &tracing::Level::INFO));
        assert!(targets.would_enable("a::b", &tracing::Level::ERROR));
        assert!(!targets.would_enable("a::b", &tracing::Level::WARN));
        let err = levels(&options("[DEFAULT]\ndefault_log_levels = nolevel\n")).unwrap_err();
        assert!(err.to_string().contains("'nolevel'"), "{err}");
    }
}
