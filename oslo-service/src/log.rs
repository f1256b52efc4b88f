//! Logging set-up from the configuration's logging options ([`LogOptions`]: `debug`,
//! `log_file`, `log_dir`, `use_stderr`, `use_json`, `default_log_levels`), with levels
//! that can be re-applied at run time: call [`setup`] again from a service's `reset`
//! hook after a SIGHUP.
//!
//! Output: to `log_file` (relative to `log_dir` when both are set), or to
//! `<log_dir>/<program>.log` when only `log_dir` is set, appended to; with
//! `use_stderr` to standard error as well. Without a file, to standard error. With
//! `use_json`, one JSON object per line (tracing-subscriber's JSON format).

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::OnceLock;

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::writer::{BoxMakeWriter, MakeWriterExt as _};
use tracing_subscriber::prelude::*;
use tracing_subscriber::{Registry, reload};

use crate::config::{Config, LogOptions};
use crate::error::{Error, Result};

static LEVELS: OnceLock<reload::Handle<Targets, Registry>> = OnceLock::new();

/// Installs the process's log output with the levels the configuration asks for:
/// `[DEFAULT] debug = true` logs at DEBUG, otherwise INFO, and `default_log_levels`
/// (`target=LEVEL` pairs) set the levels of other crates. A second call applies the
/// current configuration's levels to the output already installed (the output itself,
/// file or format, stays as it was at start).
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
    if let Some(handle) = LEVELS.get() {
        handle
            .reload(levels)
            .map_err(|err| Error::Launch(format!("cannot change log levels: {err}")))?;
        tracing::debug!(program, debug = options.debug, "log levels re-applied");
        return Ok(());
    }
    let writer = match log_path(&options, program) {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|err| {
                    Error::io(format!("cannot open log file {}", path.display()), err)
                })?;
            let file = std::sync::Arc::new(file);
            if options.use_stderr {
                BoxMakeWriter::new(file.and(std::io::stderr))
            } else {
                BoxMakeWriter::new(file)
            }
        }
        None => BoxMakeWriter::new(std::io::stderr),
    };
    let (levels, handle) = reload::Layer::new(levels);
    let output = if options.use_json {
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(writer)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer().with_writer(writer).boxed()
    };
    if tracing_subscriber::registry()
        .with(levels)
        .with(output)
        .try_init()
        .is_ok()
    {
        // A concurrent first call loses the race to `try_init` above, so this is the
        // only `set`.
        let _ = LEVELS.set(handle);
    }
    Ok(())
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
