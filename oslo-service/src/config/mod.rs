//! Configuration: oslo-style INI files named on the command line, read into snapshots
//! that services read typed values from, and re-read on SIGHUP.
//!
//! ```
//! let dir = tempfile::tempdir()?;
//! let file = dir.path().join("svc.conf");
//! std::fs::write(&file, "[DEFAULT]\ngraceful_shutdown_timeout = 5\n[api]\nport = 8080\n")?;
//!
//! let conf = oslo::Config::load(oslo::config::ConfigSources::from_files([&file]))?;
//! assert_eq!(conf.get::<u16>("api", "port")?, Some(8080));
//! assert_eq!(conf.get_or("api", "workers", 4_usize)?, 4);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod cli;
mod error;
mod ini;
mod runtime;
mod value;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

pub use cli::{CommandLine, Invocation};
pub use error::{ConfigError, InvalidValue};
pub use ini::{Assignment, IniError, parse as parse_ini};
pub(crate) use runtime::RuntimeOptions;
pub use value::OptionValue;

/// The group of options that belong to no section of their own.
pub const DEFAULT_GROUP: &str = "DEFAULT";

/// Where the configuration comes from: `--config-file` paths (later ones win) and
/// `--config-dir` directories (each `*.conf` in them, sorted, read after the files).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigSources {
    /// Files, in the order given.
    pub files: Vec<PathBuf>,
    /// Directories, in the order given.
    pub dirs: Vec<PathBuf>,
}

impl ConfigSources {
    /// Sources made of these files alone.
    pub fn from_files<P: AsRef<Path>>(files: impl IntoIterator<Item = P>) -> Self {
        ConfigSources {
            files: files.into_iter().map(|p| p.as_ref().to_owned()).collect(),
            dirs: Vec::new(),
        }
    }

    /// Every file to read, in the order their values apply.
    pub fn paths(&self) -> Result<Vec<PathBuf>, ConfigError> {
        let mut paths = self.files.clone();
        for dir in &self.dirs {
            let read_error = |source| ConfigError::Read {
                path: dir.clone(),
                source,
            };
            let mut found = Vec::new();
            for entry in std::fs::read_dir(dir).map_err(read_error)? {
                let path = entry.map_err(read_error)?.path();
                if path.extension().is_some_and(|ext| ext == "conf") && path.is_file() {
                    found.push(path);
                }
            }
            found.sort();
            paths.extend(found);
        }
        Ok(paths)
    }
}

/// One value as written in a file, with where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawValue {
    /// The text of the value.
    pub text: String,
    /// The file it came from, if any.
    pub file: Option<Arc<Path>>,
    /// Its line in that file.
    pub line: usize,
}

/// The values of every group at one moment; a reload makes a new snapshot and leaves
/// the ones already handed out as they were.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    groups: BTreeMap<String, BTreeMap<String, Vec<RawValue>>>,
}

impl Snapshot {
    /// Parses INI `text`; `file` is only used to say where values came from.
    pub fn from_ini(text: &str, file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut snapshot = Snapshot::default();
        snapshot.add_ini(text, file.map(Arc::from))?;
        Ok(snapshot)
    }

    fn from_paths(paths: &[PathBuf]) -> Result<Self, ConfigError> {
        let mut snapshot = Snapshot::default();
        for path in paths {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
            snapshot.add_ini(&text, Some(Arc::from(path.as_path())))?;
        }
        Ok(snapshot)
    }

    fn add_ini(&mut self, text: &str, file: Option<Arc<Path>>) -> Result<(), ConfigError> {
        let assignments = ini::parse(text).map_err(|err| ConfigError::Syntax {
            file: file.as_deref().map(Path::to_owned).unwrap_or_default(),
            line: err.line,
            message: err.message,
        })?;
        // Within one file a repeated key accumulates (multi-valued options); a later
        // file replaces what earlier files said for the same key.
        let mut from_this_file: BTreeMap<(String, String), Vec<RawValue>> = BTreeMap::new();
        for assignment in assignments {
            from_this_file
                .entry((
                    normalize_group(&assignment.section),
                    normalize_option(&assignment.key),
                ))
                .or_default()
                .push(RawValue {
                    text: assignment.value,
                    file: file.clone(),
                    line: assignment.line,
                });
        }
        for ((group, option), values) in from_this_file {
            self.groups.entry(group).or_default().insert(option, values);
        }
        Ok(())
    }

    /// The value that applies to `option` in `group`: the last one written.
    pub fn raw(&self, group: &str, option: &str) -> Option<&RawValue> {
        self.raw_all(group, option).last()
    }

    /// Every value written for a multi-valued option, in order.
    pub fn raw_all(&self, group: &str, option: &str) -> &[RawValue] {
        self.groups
            .get(&normalize_group(group))
            .and_then(|options| options.get(&normalize_option(option)))
            .map_or(&[], Vec::as_slice)
    }

    /// The value of `option` in `group` read as `T`, or `None` when it is not set.
    pub fn get<T: OptionValue>(&self, group: &str, option: &str) -> Result<Option<T>, ConfigError> {
        let Some(raw) = self.raw(group, option) else {
            return Ok(None);
        };
        T::parse_option(&raw.text).map(Some).map_err(|reason| {
            ConfigError::InvalidValue(Box::new(InvalidValue {
                file: raw.file.as_deref().map(Path::to_owned),
                line: raw.line,
                group: normalize_group(group),
                option: normalize_option(option),
                value: raw.text.clone(),
                reason,
            }))
        })
    }

    /// Like [`Snapshot::get`], with `default` when the option is not set.
    pub fn get_or<T: OptionValue>(
        &self,
        group: &str,
        option: &str,
        default: T,
    ) -> Result<T, ConfigError> {
        Ok(self.get(group, option)?.unwrap_or(default))
    }

    /// The groups and options that differ between `self` and `other`.
    pub fn changed_options(&self, other: &Snapshot) -> Vec<(String, String)> {
        let mut changed = Vec::new();
        let groups: std::collections::BTreeSet<&String> =
            self.groups.keys().chain(other.groups.keys()).collect();
        for group in groups {
            let empty = BTreeMap::new();
            let mine = self.groups.get(group).unwrap_or(&empty);
            let theirs = other.groups.get(group).unwrap_or(&empty);
            let options: std::collections::BTreeSet<&String> =
                mine.keys().chain(theirs.keys()).collect();
            for option in options {
                let texts = |values: Option<&Vec<RawValue>>| {
                    values.map(|v| v.iter().map(|r| r.text.clone()).collect::<Vec<_>>())
                };
                if texts(mine.get(option)) != texts(theirs.get(option)) {
                    changed.push((group.clone(), option.clone()));
                }
            }
        }
        changed
    }

    fn copy_option_from(&mut self, other: &Snapshot, group: &str, option: &str) {
        match other
            .groups
            .get(group)
            .and_then(|options| options.get(option))
        {
            Some(values) => {
                self.groups
                    .entry(group.to_owned())
                    .or_default()
                    .insert(option.to_owned(), values.clone());
            }
            None => {
                if let Some(options) = self.groups.get_mut(group) {
                    options.remove(option);
                }
            }
        }
    }
}

/// The process's configuration: a handle that every service and task can clone and read
/// from, and that a SIGHUP reload updates in place.
#[derive(Clone, Debug, Default)]
pub struct Config {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    sources: ConfigSources,
    current: RwLock<Arc<Snapshot>>,
}

impl Config {
    /// Reads every source; fails on the first file that cannot be read or parsed.
    pub fn load(sources: ConfigSources) -> Result<Self, ConfigError> {
        let snapshot = Snapshot::from_paths(&sources.paths()?)?;
        let config = Config {
            shared: Arc::new(Shared {
                sources,
                current: RwLock::new(Arc::new(snapshot)),
            }),
        };
        RuntimeOptions::read(&config.snapshot())?;
        Ok(config)
    }

    /// A configuration held in memory only, as tests build one; reloading it keeps it.
    pub fn from_snapshot(snapshot: Snapshot) -> Self {
        Config {
            shared: Arc::new(Shared {
                sources: ConfigSources::default(),
                current: RwLock::new(Arc::new(snapshot)),
            }),
        }
    }

    /// Where the values come from.
    pub fn sources(&self) -> &ConfigSources {
        &self.shared.sources
    }

    /// The values as they are now; the snapshot does not change under a reload.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        // A poisoned lock only means a writer panicked between two whole snapshots;
        // the snapshot inside is still whole.
        let current = self
            .shared
            .current
            .read()
            .unwrap_or_else(|poison| poison.into_inner());
        Arc::clone(&current)
    }

    /// The current value of `option` in `group` read as `T`; see [`Snapshot::get`].
    pub fn get<T: OptionValue>(&self, group: &str, option: &str) -> Result<Option<T>, ConfigError> {
        self.snapshot().get(group, option)
    }

    /// The current value of `option` in `group`, or `default` when it is not set.
    pub fn get_or<T: OptionValue>(
        &self,
        group: &str,
        option: &str,
        default: T,
    ) -> Result<T, ConfigError> {
        self.snapshot().get_or(group, option, default)
    }

    /// Re-reads every source and replaces all values. When a file cannot be read or a
    /// value is bad, nothing changes and the error is returned.
    pub fn reload(&self) -> Result<Vec<(String, String)>, ConfigError> {
        let fresh = self.read_sources()?;
        Ok(self.replace(fresh))
    }

    /// Re-reads every source and applies only the options that may change while the
    /// process runs; a changed immutable option is logged and keeps its old value.
    pub fn mutate(&self) -> Result<Vec<(String, String)>, ConfigError> {
        let mut fresh = self.read_sources()?;
        let old = self.snapshot();
        for (group, option) in old.changed_options(&fresh) {
            if !RuntimeOptions::is_mutable(&group, &option) {
                tracing::warn!(%group, %option, "ignoring change to immutable option {group}.{option}");
                fresh.copy_option_from(&old, &group, &option);
            }
        }
        Ok(self.replace(fresh))
    }

    fn read_sources(&self) -> Result<Snapshot, ConfigError> {
        if self.shared.sources == ConfigSources::default() {
            return Ok((*self.snapshot()).clone());
        }
        let fresh = Snapshot::from_paths(&self.shared.sources.paths()?)?;
        RuntimeOptions::read(&fresh)?;
        Ok(fresh)
    }

    fn replace(&self, fresh: Snapshot) -> Vec<(String, String)> {
        let mut current = self
            .shared
            .current
            .write()
            .unwrap_or_else(|poison| poison.into_inner());
        let changed = current.changed_options(&fresh);
        *current = Arc::new(fresh);
        changed
    }
}

/// oslo.config keeps `DEFAULT` as it is and compares other group names in lower case.
fn normalize_group(group: &str) -> String {
    if group == DEFAULT_GROUP {
        group.to_owned()
    } else {
        group.to_lowercase()
    }
}

/// Option names may be written with dashes or underscores.
fn normalize_option(option: &str) -> String {
    option.replace('-', "_")
}

#[cfg(test)]
mod tests;
