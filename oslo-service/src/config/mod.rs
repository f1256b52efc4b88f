//! Configuration: options declared once as Rust structs (`#[oslo::options]`), read
//! from oslo-style INI files, TOML files and the environment into snapshots that
//! services read typed groups from, and re-read on SIGHUP.
//!
//! Sources, each over the one before: the declared defaults, `--config-file` files in
//! the order given, `--config-dir` directories (their `*.conf` and `*.toml` files in
//! sorted order), then environment variables named as oslo.config names them,
//! `OS_<GROUP>__<OPTION>` (`OS_DEFAULT__DEBUG=true`, `OS_POLLER__INTERVAL=10s`). A file whose name
//! ends in `.toml` is TOML (top-level keys are `[DEFAULT]` options, tables are groups);
//! any other file is oslo-style INI.
//!
//! ```
//! use std::time::Duration;
//!
//! /// The poller's options.
//! #[oslo::options(group = "poller")]
//! struct PollerOpts {
//!     /// Time between two polls.
//!     #[opt(default = "30s", mutable)]
//!     interval: Duration,
//! }
//!
//! let dir = tempfile::tempdir()?;
//! let file = dir.path().join("svc.conf");
//! std::fs::write(&file, "[poller]\ninterval = 10s\n")?;
//! let sources = oslo::config::ConfigSources::from_files([&file]);
//! let conf = oslo::Config::load_with(sources, &[oslo::config::GroupInfo::of::<PollerOpts>()])?;
//! assert_eq!(conf.group::<PollerOpts>()?.interval, Duration::from_secs(10));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Values can also be read by name:
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

mod builtin;
mod cli;
mod error;
mod generator;
pub(crate) mod ini;
mod load;
mod mask;
pub(crate) mod read;
mod search;
mod snapshot;
pub(crate) mod spec;
mod substitute;
mod value;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

pub(crate) use builtin::RuntimeOptions;
pub use builtin::{
    CoordinationOptions, LogOptions, PeriodicTaskOptions, ServiceOptions, SslOptions, WsgiOptions,
};
pub(crate) use cli::{CommandLine, Invocation};
pub use error::{ConfigError, InvalidValue};
pub use generator::generate_sample;
pub(crate) use ini::parse as parse_ini;
pub use load::IniFile;
pub(crate) use mask::{Masker, mask_inline};
pub use snapshot::{RawValue, Snapshot};
pub use spec::{Bound, DeprecatedName, GroupInfo, OptionGroup, OptionSpec, OptionType};
pub(crate) use value::MAX_DURATION;
pub use value::{OptionValue, Port};

/// figment, whose providers the configuration is read with ([`IniFile`] is one), for a
/// program that builds a figment of its own from the same files.
pub use figment;

/// The group of options that belong to no section of their own.
pub const DEFAULT_GROUP: &str = "DEFAULT";

/// The prefix of the environment variables the command line's sources read.
pub const ENV_PREFIX: &str = "OS_";

/// Where the configuration comes from: `--config-file` paths (later ones win),
/// `--config-dir` directories (each `*.conf` and `*.toml` in them, sorted, read after
/// the files; one such name that is not a readable file is an error), then environment
/// variables named with `env_prefix`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigSources {
    /// Files, in the order given.
    pub files: Vec<PathBuf>,
    /// Directories, in the order given.
    pub dirs: Vec<PathBuf>,
    /// The prefix of the environment variables read (`OS_` from the command line);
    /// `None` reads none.
    pub env_prefix: Option<String>,
    /// Values of `#[opt(cli)]` options given on the command line, as `(group, option,
    /// value)`: over every other source, and kept across reloads.
    pub cli: Vec<(String, String, String)>,
}

impl ConfigSources {
    /// Sources made of these files alone.
    pub fn from_files<P: AsRef<Path>>(files: impl IntoIterator<Item = P>) -> Self {
        ConfigSources {
            files: files.into_iter().map(|p| p.as_ref().to_owned()).collect(),
            ..ConfigSources::default()
        }
    }

    /// The same sources, and the environment variables whose names start with `prefix`.
    pub fn with_env(mut self, prefix: impl Into<String>) -> Self {
        self.env_prefix = Some(prefix.into());
        self
    }

    /// The sources as bytes, for a worker to rebuild them with
    /// [`ConfigSources::from_bytes`] instead of parsing the command line again.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        use std::os::unix::ffi::OsStrExt as _;
        let mut out = Vec::new();
        for paths in [&self.files, &self.dirs] {
            snapshot::netstring(&mut out, paths.len().to_string().as_bytes());
            for path in paths {
                snapshot::netstring(&mut out, path.as_os_str().as_bytes());
            }
        }
        let prefix = self.env_prefix.as_deref();
        snapshot::netstring(&mut out, if prefix.is_some() { b"1" } else { b"0" });
        snapshot::netstring(&mut out, prefix.unwrap_or_default().as_bytes());
        snapshot::netstring(&mut out, self.cli.len().to_string().as_bytes());
        for (group, option, value) in &self.cli {
            for text in [group, option, value] {
                snapshot::netstring(&mut out, text.as_bytes());
            }
        }
        out
    }

    /// The sources [`ConfigSources::to_bytes`] wrote; `None` if the bytes are not such.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Option<Self> {
        use std::os::unix::ffi::OsStrExt as _;
        let mut fields = snapshot::Netstrings(bytes);
        let count = |fields: &mut snapshot::Netstrings<'_>| -> Option<usize> {
            std::str::from_utf8(fields.next()?).ok()?.parse().ok()
        };
        let paths = |fields: &mut snapshot::Netstrings<'_>| -> Option<Vec<PathBuf>> {
            let n = count(fields)?;
            (0..n)
                .map(|_| Some(PathBuf::from(std::ffi::OsStr::from_bytes(fields.next()?))))
                .collect()
        };
        let files = paths(&mut fields)?;
        let dirs = paths(&mut fields)?;
        let has_prefix = fields.next()? == b"1";
        let prefix = String::from_utf8(fields.next()?.to_vec()).ok()?;
        let text =
            |fields: &mut snapshot::Netstrings<'_>| String::from_utf8(fields.next()?.to_vec()).ok();
        let n = count(&mut fields)?;
        let cli = (0..n)
            .map(|_| Some((text(&mut fields)?, text(&mut fields)?, text(&mut fields)?)))
            .collect::<Option<Vec<_>>>()?;
        fields.0.is_empty().then_some(ConfigSources {
            files,
            dirs,
            env_prefix: has_prefix.then_some(prefix),
            cli,
        })
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
                let conf = path.extension().is_some_and(|ext| ext == "conf");
                if !conf && !load::is_toml(&path) {
                    continue;
                }
                // A name that matches is meant to be read: one that is no file (a
                // directory named `zz.conf`) is an error, not a silent skip.
                if !path.is_file() {
                    return Err(ConfigError::Read {
                        source: std::io::Error::other("not a regular file"),
                        path,
                    });
                }
                found.push(path);
            }
            found.sort();
            paths.extend(found);
        }
        Ok(paths)
    }
}

/// The process's configuration: a handle that every service and task can clone and read
/// from, and that a SIGHUP reload updates in place.
#[derive(Clone)]
pub struct Config {
    shared: Arc<Shared>,
}

impl Default for Config {
    /// No values: every option has its default. The runtime's groups are registered.
    fn default() -> Self {
        Config::from_snapshot(Snapshot::default())
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("sources", &self.shared.sources)
            .field("groups", &self.shared.groups.len())
            .finish_non_exhaustive()
    }
}

/// A function called after a `mutate` reload with the options it changed.
type MutateHook = Box<dyn Fn(&[OptionChange]) + Send + Sync>;

#[derive(Default)]
struct Shared {
    sources: ConfigSources,
    groups: Vec<GroupInfo>,
    /// The declarations of `groups`, by name.
    declared: SpecIndex,
    current: RwLock<Arc<Snapshot>>,
    hooks: Mutex<Vec<MutateHook>>,
    checks: Mutex<Vec<ReloadCheck>>,
}

/// A check of a configuration about to replace the running one ([`Config::add_reload_check`]).
type ReloadCheck = Box<dyn Fn(&Snapshot) -> Result<(), ConfigError> + Send + Sync>;

/// An option a `mutate` reload changed: its values as text before and after (`None`
/// when unset), secrets masked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptionChange {
    /// The group.
    pub group: String,
    /// The option.
    pub option: String,
    /// The value before.
    pub old: Option<String>,
    /// The value after.
    pub new: Option<String>,
}

impl Config {
    /// Reads every source; fails on the first file that cannot be read or parsed, or a
    /// value of the runtime's own options that is bad.
    pub fn load(sources: ConfigSources) -> Result<Self, ConfigError> {
        Self::load_with(sources, &[])
    }

    /// Like [`Config::load`], with the groups of options the program declared: each is
    /// checked now (a bad value is an error naming its file and line), and their
    /// declarations decide what `mutate` applies, what `log_options` shows and what the
    /// sample config lists.
    pub fn load_with(sources: ConfigSources, groups: &[GroupInfo]) -> Result<Self, ConfigError> {
        let snapshot = substituted(load::read(&sources)?, &with_runtime_groups(groups))?;
        Self::with_values(sources, groups, snapshot)
    }

    /// Like [`Config::load_with`], with the values of `snapshot` instead of what the
    /// sources hold now (a worker runs on its parent's); a reload reads the sources.
    /// The values are taken as they are: substitution happened when they were loaded.
    pub fn with_values(
        sources: ConfigSources,
        groups: &[GroupInfo],
        snapshot: Snapshot,
    ) -> Result<Self, ConfigError> {
        let groups = with_runtime_groups(groups);
        check_groups(&groups, &snapshot)?;
        Ok(Config {
            shared: Arc::new(Shared {
                sources,
                declared: SpecIndex::of(&groups),
                groups,
                current: RwLock::new(Arc::new(snapshot)),
                hooks: Mutex::default(),
                checks: Mutex::default(),
            }),
        })
    }

    /// A configuration held in memory only, as tests build one; reloading it keeps it.
    pub fn from_snapshot(snapshot: Snapshot) -> Self {
        Config {
            shared: Arc::new(Shared {
                declared: SpecIndex::of(&with_runtime_groups(&[])),
                groups: with_runtime_groups(&[]),
                current: RwLock::new(Arc::new(snapshot)),
                ..Shared::default()
            }),
        }
    }

    /// Where the values come from.
    pub fn sources(&self) -> &ConfigSources {
        &self.shared.sources
    }

    /// The groups of options registered: the runtime's own, then the program's.
    pub fn groups(&self) -> &[GroupInfo] {
        &self.shared.groups
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

    /// The group `T` as it is now, typed: read once per snapshot, then shared, so that
    /// this is cheap to call from any task.
    pub fn group<T: OptionGroup>(&self) -> Result<Arc<T>, ConfigError> {
        self.snapshot().group::<T>()
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

    /// The options of `group` as they are now, read into `T` through serde: for a group
    /// that is no `#[oslo::options]` struct, or a type of one's own. Values are text in
    /// INI files: they are read leniently (`"8080"` into a number, `"true"` into a
    /// bool), and a multi-valued option is a sequence.
    ///
    /// ```
    /// #[derive(serde::Deserialize)]
    /// struct Database {
    ///     connection: String,
    ///     max_pool_size: u32,
    ///     retry: bool,
    /// }
    ///
    /// let snapshot = oslo::config::Snapshot::from_ini(
    ///     "[database]\nconnection = sqlite://\nmax_pool_size = 5\nretry = yes\n",
    ///     None,
    /// )?;
    /// let conf = oslo::Config::from_snapshot(snapshot);
    /// let database: Database = conf.extract("database")?;
    /// assert_eq!((database.connection.as_str(), database.max_pool_size), ("sqlite://", 5));
    /// assert!(database.retry);
    /// # Ok::<(), oslo::config::ConfigError>(())
    /// ```
    pub fn extract<T: serde::de::DeserializeOwned>(&self, group: &str) -> Result<T, ConfigError> {
        let snapshot = self.snapshot();
        let mut dict = figment::value::Dict::new();
        for (name, option, values) in snapshot.iter_unordered() {
            if name != normalize_group(group) {
                continue;
            }
            let value = match values {
                [one] => figment::value::Value::from(one.text.clone()),
                many => figment::value::Value::from(
                    many.iter()
                        .map(|raw| figment::value::Value::from(raw.text.clone()))
                        .collect::<Vec<_>>(),
                ),
            };
            dict.insert(option.to_owned(), value);
        }
        figment::Figment::from(figment::providers::Serialized::defaults(dict))
            .extract_lossy()
            .map_err(|err| ConfigError::Extract {
                group: group.to_owned(),
                message: err.to_string(),
            })
    }

    /// Calls `hook` after each `mutate` reload that changed a mutable option, with the
    /// options it changed.
    pub fn on_mutate(&self, hook: impl Fn(&[OptionChange]) + Send + Sync + 'static) {
        self.shared
            .hooks
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .push(Box::new(hook));
    }

    /// Finds a file named by an option (such as `api_paste_config`) as oslo.config's
    /// `find_file` does: an absolute path as it is, else in the `--config-dir`
    /// directories, then beside the config files (the last given first). `None` when
    /// it is nowhere.
    pub fn find_file(&self, name: impl AsRef<Path>) -> Option<PathBuf> {
        let name = name.as_ref();
        if name.is_absolute() {
            return name.exists().then(|| name.to_owned());
        }
        let sources = &self.shared.sources;
        let beside_files = sources
            .files
            .iter()
            .rev()
            .filter_map(|file| file.parent().map(Path::to_owned));
        sources
            .dirs
            .iter()
            .cloned()
            .chain(beside_files)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.exists())
    }

    /// Adds a check that a reloaded configuration must pass before it replaces the
    /// running one, for what the declarations cannot say: that a certificate file named
    /// by an option loads, for instance. A check that fails makes [`Config::reload`] and
    /// [`Config::mutate`] return its error and change nothing, so a SIGHUP is refused
    /// whole.
    ///
    /// ```
    /// use oslo::config::{ConfigError, Snapshot};
    ///
    /// let conf = oslo::Config::default();
    /// conf.add_reload_check(|snapshot: &Snapshot| {
    ///     match snapshot.get::<String>("DEFAULT", "state_path")? {
    ///         Some(path) if path.is_empty() => Err(ConfigError::CommandLine(
    ///             "state_path may not be empty".into(),
    ///         )),
    ///         _ => Ok(()),
    ///     }
    /// });
    /// assert!(conf.reload().is_ok());
    /// ```
    pub fn add_reload_check(
        &self,
        check: impl Fn(&Snapshot) -> Result<(), ConfigError> + Send + Sync + 'static,
    ) {
        self.shared
            .checks
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .push(Box::new(check));
    }

    fn run_reload_checks(&self, fresh: &Snapshot) -> Result<(), ConfigError> {
        let checks = self
            .shared
            .checks
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        checks.iter().try_for_each(|check| check(fresh))
    }

    /// Re-reads every source and replaces all values. When a file cannot be read, a
    /// value is bad or a [reload check](Config::add_reload_check) fails, nothing changes
    /// and the error is returned.
    pub fn reload(&self) -> Result<Vec<(String, String)>, ConfigError> {
        let fresh = self.read_sources()?;
        self.run_reload_checks(&fresh)?;
        Ok(self.replace(fresh))
    }

    /// Re-reads every source and applies only the options declared `mutable` (and
    /// options no registered group declares); a changed immutable option is logged
    /// ("ignoring change to immutable option", with its group and option) and keeps its
    /// old value.
    /// The hooks of [`Config::on_mutate`] are then called with what changed.
    pub fn mutate(&self) -> Result<Vec<(String, String)>, ConfigError> {
        let fresh = self.read_sources()?;
        self.run_reload_checks(&fresh)?;
        Ok(self.mutate_to(fresh))
    }

    /// A configuration of `groups` (and the runtime's) holding the values of INI `text`,
    /// read as files are: substituted and checked.
    pub(crate) fn from_ini_text(text: &str, groups: &[GroupInfo]) -> Result<Self, ConfigError> {
        let groups = with_runtime_groups(groups);
        let values = substituted(Snapshot::from_ini(text, None)?, &groups)?;
        Self::with_values(ConfigSources::default(), &groups, values)
    }

    /// What [`Config::reload`] does, with the values of INI `text` as the new ones.
    pub(crate) fn reload_from_ini(&self, text: &str) -> Result<Vec<(String, String)>, ConfigError> {
        Ok(self.replace(self.checked_ini(text)?))
    }

    /// What [`Config::mutate`] does, with the values of INI `text` as the new ones.
    pub(crate) fn mutate_from_ini(&self, text: &str) -> Result<Vec<(String, String)>, ConfigError> {
        Ok(self.mutate_to(self.checked_ini(text)?))
    }

    fn checked_ini(&self, text: &str) -> Result<Snapshot, ConfigError> {
        let fresh = substituted(Snapshot::from_ini(text, None)?, &self.shared.groups)?;
        check_groups(&self.shared.groups, &fresh)?;
        self.run_reload_checks(&fresh)?;
        Ok(fresh)
    }

    /// Applies the mutable options of `fresh` (and those no group declares), keeps the
    /// others, and calls the mutate hooks with what changed.
    fn mutate_to(&self, mut fresh: Snapshot) -> Vec<(String, String)> {
        let declared = &self.shared.declared;
        let old = self.snapshot();
        for (group, option) in old.changed_options(&fresh) {
            let mutable = declared
                .get(&group, &option)
                .is_none_or(|spec| spec.mutable);
            if !mutable {
                tracing::warn!(%group, %option, "ignoring change to immutable option");
                fresh.copy_option_from(&old, &group, &option);
            }
        }
        let changed = self.replace(fresh);
        let new = self.snapshot();
        let (old_masker, new_masker) = (self.masker(&old), self.masker(&new));
        let changes: Vec<OptionChange> = changed
            .iter()
            .map(|(group, option)| {
                let secret = self.is_secret(group, option);
                let text = |snapshot: &Snapshot, masker: &Masker| {
                    joined(snapshot.raw_all(group, option))
                        .map(|text| masker.show(secret, &text).into_owned())
                };
                OptionChange {
                    group: group.clone(),
                    option: option.clone(),
                    old: text(&old, &old_masker),
                    new: text(&new, &new_masker),
                }
            })
            .collect();
        if !changes.is_empty() {
            let hooks = self
                .shared
                .hooks
                .lock()
                .unwrap_or_else(|poison| poison.into_inner());
            for hook in hooks.iter() {
                hook(&changes);
            }
        }
        changed
    }

    /// Whether the value of `option` in `group` is a secret: declared `secret`, or named
    /// as oslo.utils' `mask_password` knows secrets (`*password*`, `*token*`…).
    pub fn is_secret(&self, group: &str, option: &str) -> bool {
        self.spec(group, option).is_some_and(|spec| spec.secret) || mask::name_is_secret(option)
    }

    /// `text`, a value of `option` in `group`, as a log line or a console may show it:
    /// `****` for a secret or a value substituted from one, otherwise with the
    /// credentials inside it masked (a URL's password, `password=…` pairs).
    ///
    /// ```
    /// let conf = oslo::Config::default();
    /// assert_eq!(conf.shown_value("database", "connection", "mysql://nova:pw@db/nova"), "mysql://nova:****@db/nova");
    /// assert_eq!(conf.shown_value("keystone_authtoken", "password", "pw"), "****");
    /// ```
    pub fn shown_value(&self, group: &str, option: &str, text: &str) -> String {
        self.masker(&self.snapshot())
            .show(self.is_secret(group, option), text)
            .into_owned()
    }

    /// What masks the values of `snapshot` under this configuration's declarations.
    pub(crate) fn masker(&self, snapshot: &Snapshot) -> Masker {
        let declared = &self.shared.declared;
        Masker::new(snapshot, |group, option| {
            declared.get(group, option).is_some_and(|spec| spec.secret)
        })
    }

    /// The declaration of `option` in `group`, if a registered group declares it (by
    /// its name or a deprecated one).
    pub fn spec(&self, group: &str, option: &str) -> Option<&'static OptionSpec> {
        self.shared.declared.get(group, option)
    }

    /// Options set in a registered group that no declaration knows: probably a typo.
    pub fn unknown_options(&self) -> Vec<(String, String)> {
        let declared = &self.shared.declared;
        let snapshot = self.snapshot();
        let mut unknown: Vec<(String, String)> = snapshot
            .iter_unordered()
            .filter(|(group, _, _)| self.shared.groups.iter().any(|info| info.group == *group))
            .filter(|(group, option, _)| declared.get(group, option).is_none())
            .map(|(group, option, _)| (group.to_owned(), option.to_owned()))
            .collect();
        unknown.sort_unstable();
        unknown
    }

    /// Logs the [`Config::unknown_options`]: one warning a group, with their count and
    /// names (`[DEFAULT]`, which services share with their libraries, may hold hundreds).
    pub fn warn_unknown_options(&self) {
        let mut by_group: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for (group, option) in self.unknown_options() {
            by_group.entry(group).or_default().push(option);
        }
        for (group, options) in by_group {
            tracing::warn!(
                %group,
                count = options.len(),
                options = %options.join(","),
                "unknown options"
            );
        }
    }

    /// What `#[oslo::main]` does once logging is set up: warns of unknown options and,
    /// when `log_options` is true, logs every option's value.
    pub fn log_at_start(&self) {
        let files = self.sources().paths().unwrap_or_default();
        tracing::info!(?files, "configuration read");
        self.warn_unknown_options();
        if self
            .group::<ServiceOptions>()
            .is_ok_and(|options| options.log_options)
        {
            self.log_options();
        }
    }

    /// Logs every registered option's value at DEBUG, secrets as `****`: oslo.config's
    /// `log_opt_values`.
    pub fn log_options(&self) {
        let snapshot = self.snapshot();
        let files = self.sources().paths().unwrap_or_default();
        tracing::debug!(?files, "configuration options gathered");
        let masker = self.masker(&snapshot);
        for info in self.groups() {
            for spec in (info.options)() {
                let values = read::values_found(&snapshot, spec, false);
                let value = joined(values)
                    .or_else(|| spec.default_text())
                    .unwrap_or_else(|| "None".to_owned());
                let secret = spec.secret || mask::name_is_secret(spec.name);
                tracing::debug!(
                    option = %spec.qualified_name(),
                    value = %masker.show(secret, &value),
                    "option value"
                );
            }
        }
    }

    fn read_sources(&self) -> Result<Snapshot, ConfigError> {
        let sources = &self.shared.sources;
        if sources.files.is_empty()
            && sources.dirs.is_empty()
            && sources.env_prefix.is_none()
            && sources.cli.is_empty()
        {
            return Ok((*self.snapshot()).clone());
        }
        let fresh = substituted(
            load::read_sized_as(sources, &self.snapshot())?,
            &self.shared.groups,
        )?;
        check_groups(&self.shared.groups, &fresh)?;
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

/// The values of an option as one text, `, ` between them; `None` when it has none.
fn joined(values: &[RawValue]) -> Option<String> {
    (!values.is_empty()).then(|| {
        values
            .iter()
            .map(|v| v.text.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// `snapshot` with oslo.config's substitution applied, against the options of `groups`.
fn substituted(snapshot: Snapshot, groups: &[GroupInfo]) -> Result<Snapshot, ConfigError> {
    let index = SpecIndex::of(groups);
    let declared = |group: &str, option: &str| index.get(group, option);
    // An error must not show a secret it was about to substitute, nor one that fails.
    let masker = Masker::new(&snapshot, |group, option| {
        declared(group, option).is_some_and(|spec| spec.secret)
    });
    substitute::apply(snapshot, &declared, &index.specs).map_err(|err| {
        err.masked(|group, option, text| {
            let secret = declared(group, option).is_some_and(|spec| spec.secret)
                || mask::name_is_secret(option);
            masker.show(secret, text).into_owned()
        })
    })
}

/// The declarations of registered groups, found by group and name (or an older name).
#[derive(Default)]
struct SpecIndex {
    specs: Vec<&'static OptionSpec>,
    by_name: std::collections::HashMap<(&'static str, &'static str), &'static OptionSpec>,
}

impl SpecIndex {
    fn of(groups: &[GroupInfo]) -> Self {
        let specs: Vec<&'static OptionSpec> = groups
            .iter()
            .flat_map(|info| (info.options)().iter())
            .collect();
        let mut by_name = std::collections::HashMap::with_capacity(specs.len());
        for &spec in &specs {
            by_name.insert((spec.group, spec.name), spec);
            for old in spec.deprecated {
                let old_name = (
                    old.group.unwrap_or(spec.group),
                    old.name.unwrap_or(spec.name),
                );
                by_name.entry(old_name).or_insert(spec);
            }
        }
        SpecIndex { specs, by_name }
    }

    fn get(&self, group: &str, option: &str) -> Option<&'static OptionSpec> {
        self.by_name.get(&(group, option)).copied()
    }
}

/// The runtime's groups followed by `groups`, each once.
fn with_runtime_groups(groups: &[GroupInfo]) -> Vec<GroupInfo> {
    let mut all = builtin::GROUPS.to_vec();
    for group in groups {
        if !all.iter().any(|known| known.same_as(group)) {
            all.push(*group);
        }
    }
    all
}

/// Reads every group, so that a bad value stops a start or a reload as a whole.
fn check_groups(groups: &[GroupInfo], snapshot: &Snapshot) -> Result<(), ConfigError> {
    groups
        .iter()
        .try_for_each(|info| (info.check)(snapshot))
        .map_err(|err| masked_error(err, &SpecIndex::of(groups), snapshot))
}

/// `err` without a secret of `snapshot` in it: the value of a secret option, or one
/// substituted from a secret, shows as `****`.
fn masked_error(err: ConfigError, index: &SpecIndex, snapshot: &Snapshot) -> ConfigError {
    let declared_secret =
        |group: &str, option: &str| index.get(group, option).is_some_and(|spec| spec.secret);
    let masker = Masker::new(snapshot, declared_secret);
    err.masked(|group, option, text| {
        let secret = declared_secret(group, option) || mask::name_is_secret(option);
        masker.show(secret, text).into_owned()
    })
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
