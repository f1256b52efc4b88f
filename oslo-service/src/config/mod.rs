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
mod declared;
mod error;
mod generator;
pub(crate) mod ini;
mod mask;
mod names;
mod option_value;
mod providers;
mod reload;
mod report;
mod search;
mod snapshot;
mod sources;
pub(crate) mod spec;
mod substitute;
pub(crate) mod typed;
mod unknown;
pub(crate) mod variants;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

pub use builtin::{
    CoordinationOptions, HealthOptions, LogOptions, MetricsOptions, OtelOptions,
    PeriodicTaskOptions, ProxyOptions, ServiceOptions, SslOptions, WsgiOptions,
};
pub(crate) use builtin::{Heartbeat, RuntimeOptions};
pub(crate) use cli::{CommandLine, Invocation};
use declared::{SpecIndex, check_groups, prepared, with_runtime_groups};
pub use error::{ConfigError, InvalidValue};
pub use generator::generate_sample;
#[cfg(any(feature = "http", test))]
pub(crate) use ini::parse as parse_ini;
pub(crate) use mask::Masker;
pub(crate) use mask::mask_inline;
use names::{normalize_group, normalize_option};
pub(crate) use option_value::MAX_DURATION;
pub use option_value::{ByteSize, OptionValue, Port};
/// `#[derive(OptionValue)]`: an enum whose variants have no fields as an option type,
/// one choice per variant, its doc comment the choice's description in the sample.
pub use oslo_service_macros::OptionValue;
pub use providers::IniFile;
pub use reload::OptionChange;
use reload::ReloadCheck;
pub use snapshot::{RawValue, Snapshot};
pub use sources::ConfigSources;
pub use spec::{Bound, DeprecatedName, GroupInfo, OptionGroup, OptionSpec, OptionType};

/// figment, whose providers the configuration is read with ([`IniFile`] is one), for a
/// program that builds a figment of its own from the same files.
pub use figment;

/// The group of options that belong to no section of their own.
pub const DEFAULT_GROUP: &str = "DEFAULT";

/// The prefix of the environment variables the command line's sources read.
pub const ENV_PREFIX: &str = "OS_";

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
    /// Whether `group` reads only the registered groups: so for a program's
    /// configuration; a configuration built in memory (tests) reads any.
    registered_only: bool,
    reloads: Mutex<Reloads>,
    /// Counts the times the values were replaced, for those who follow them.
    replaced: tokio::sync::watch::Sender<u64>,
}

/// The reloads of a configuration: accepted ones counted, the last refusal kept.
#[derive(Default)]
struct Reloads {
    generation: u64,
    refused: Option<String>,
}

impl Config {
    /// Reads every source; fails on the first file that cannot be read or parsed, or a
    /// value of the runtime's own options that is bad.
    pub fn load(sources: ConfigSources) -> Result<Self, ConfigError> {
        Self::load_with(sources, &[])
    }

    /// Like [`Config::load`], with the groups of options the program declared: each is
    /// checked now (a bad value is an error naming its file and line; several are
    /// [`ConfigError::Several`], every one named), and their declarations decide what
    /// `mutate` applies, what `log_options` shows and what the sample config lists.
    pub fn load_with(sources: ConfigSources, groups: &[GroupInfo]) -> Result<Self, ConfigError> {
        let (conf, errors) = Self::load_checking(sources, groups)?;
        ConfigError::all(errors).map(|()| conf)
    }

    /// What `--check-config` reads: the configuration of `sources` whatever its bad
    /// values (a value whose references do not resolve as written), and every error
    /// found in it. Fails only when a source cannot be read at all.
    pub(crate) fn load_checking(
        sources: ConfigSources,
        groups: &[GroupInfo],
    ) -> Result<(Self, Vec<ConfigError>), ConfigError> {
        let groups = with_runtime_groups(groups);
        let (snapshot, errors) = prepared(providers::read(&sources)?, &groups);
        Ok((Self::unchecked(sources, groups, snapshot), errors))
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
        Ok(Self::unchecked(sources, groups, snapshot))
    }

    /// The configuration of `groups` (the runtime's among them) on `snapshot`, taken as
    /// it is.
    fn unchecked(sources: ConfigSources, groups: Vec<GroupInfo>, snapshot: Snapshot) -> Self {
        Config {
            shared: Arc::new(Shared {
                sources,
                declared: SpecIndex::of(&groups),
                groups,
                current: RwLock::new(Arc::new(snapshot)),
                hooks: Mutex::default(),
                checks: Mutex::default(),
                registered_only: true,
                reloads: Mutex::default(),
                replaced: tokio::sync::watch::Sender::default(),
            }),
        }
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
    ///
    /// # Errors
    ///
    /// A bad value of the group; or, in a program's configuration, a group that is not
    /// registered (`#[oslo::main(options = [T])]`, the groups given to
    /// [`Config::load_with`] or the test `Harness`): unregistered, it would be checked
    /// neither at start nor on reload, nor listed by `--generate-config`.
    pub fn group<T: OptionGroup>(&self) -> Result<Arc<T>, ConfigError> {
        if self.shared.registered_only
            && !self.shared.groups.iter().any(GroupInfo::declared_by::<T>)
        {
            return Err(ConfigError::unregistered::<T>());
        }
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

    /// The declaration of `option` in `group`, if a registered group declares it (by
    /// its name or a deprecated one).
    pub fn spec(&self, group: &str, option: &str) -> Option<&'static OptionSpec> {
        self.shared.declared.get(group, option)
    }
}

#[cfg(test)]
mod tests;
