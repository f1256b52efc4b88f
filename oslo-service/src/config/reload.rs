//! Reloads: `reload` (every option from the sources again) and `mutate` (the mutable
//! ones only), the checks a new configuration must pass first, and the hooks told what
//! a `mutate` changed. A configuration that fails anything is refused whole.

use std::sync::Arc;

use super::declared::{checked, with_runtime_groups};
use super::report::joined;
use super::{Config, ConfigError, ConfigSources, GroupInfo, Masker, Snapshot, providers};

/// A check of a configuration about to replace the running one ([`Config::add_reload_check`]).
pub(super) type ReloadCheck = Box<dyn Fn(&Snapshot) -> Result<(), ConfigError> + Send + Sync>;

/// What a `mutate` did: the options it changed, and the immutable ones whose change it
/// ignored (each as group and option).
#[derive(Debug)]
pub(crate) struct Mutated {
    pub(crate) changed: Vec<(String, String)>,
    pub(crate) ignored: Vec<(String, String)>,
}

impl Mutated {
    /// One warning per ignored change.
    pub(crate) fn warn_ignored(&self) {
        for (group, option) in &self.ignored {
            tracing::warn!(%group, %option, "ignoring change to immutable option");
        }
    }
}

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
    /// Calls `hook` after each `mutate` reload that changed a mutable option, with the
    /// options it changed.
    pub fn on_mutate(&self, hook: impl Fn(&[OptionChange]) + Send + Sync + 'static) {
        self.shared
            .hooks
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .push(Box::new(hook));
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
        self.record(self.read_sources().and_then(|fresh| {
            self.run_reload_checks(&fresh)?;
            Ok(self.replace(fresh))
        }))
    }

    /// Re-reads every source and applies only the options declared `mutable` (and
    /// options no registered group declares); a changed immutable option is logged
    /// ("ignoring change to immutable option", with its group and option) and keeps its
    /// old value.
    /// The hooks of [`Config::on_mutate`] are then called with what changed.
    pub fn mutate(&self) -> Result<Vec<(String, String)>, ConfigError> {
        let mutated = self.mutate_unlogged()?;
        mutated.warn_ignored();
        Ok(mutated.changed)
    }

    /// What [`Config::mutate`] does, leaving the changes it ignored unsaid: each process
    /// of a host re-reads the same files, and one of them (the parent) tells.
    pub(crate) fn mutate_unlogged(&self) -> Result<Mutated, ConfigError> {
        self.record(self.read_sources().and_then(|fresh| {
            self.run_reload_checks(&fresh)?;
            Ok(self.mutate_to(fresh))
        }))
    }

    /// How many reloads (or mutates) were accepted since start: the generation of the
    /// configuration in force, 0 for the one read at start.
    pub fn generation(&self) -> u64 {
        self.reloads().generation
    }

    /// Why the last reload was refused (its error, secrets masked, several on one line
    /// separated by `; `), until one is accepted; `None` when the last one was.
    pub fn last_refused_reload(&self) -> Option<String> {
        self.reloads().refused.clone()
    }

    fn reloads(&self) -> std::sync::MutexGuard<'_, super::Reloads> {
        self.shared
            .reloads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts an accepted reload, or keeps why one was refused.
    fn record<T>(&self, outcome: Result<T, ConfigError>) -> Result<T, ConfigError> {
        let mut reloads = self.reloads();
        match &outcome {
            Ok(_) => {
                reloads.generation += 1;
                reloads.refused = None;
            }
            Err(err) => reloads.refused = Some(err.one_line()),
        }
        outcome
    }

    /// A configuration of `groups` (and the runtime's) holding the values of INI `text`,
    /// read as files are: substituted and checked.
    pub(crate) fn from_ini_text(text: &str, groups: &[GroupInfo]) -> Result<Self, ConfigError> {
        let groups = with_runtime_groups(groups);
        let values = checked(Snapshot::from_ini(text, None)?, &groups)?;
        Ok(Self::unchecked(ConfigSources::default(), groups, values))
    }

    /// What [`Config::reload`] does, with the values of INI `text` as the new ones.
    pub(crate) fn reload_from_ini(&self, text: &str) -> Result<Vec<(String, String)>, ConfigError> {
        Ok(self.replace(self.checked_ini(text)?))
    }

    /// What [`Config::mutate`] does, with the values of INI `text` as the new ones.
    pub(crate) fn mutate_from_ini(&self, text: &str) -> Result<Vec<(String, String)>, ConfigError> {
        let mutated = self.mutate_to(self.checked_ini(text)?);
        mutated.warn_ignored();
        Ok(mutated.changed)
    }

    fn checked_ini(&self, text: &str) -> Result<Snapshot, ConfigError> {
        let fresh = checked(Snapshot::from_ini(text, None)?, &self.shared.groups)?;
        self.run_reload_checks(&fresh)?;
        Ok(fresh)
    }

    /// Applies the mutable options of `fresh` (and those no group declares), keeps the
    /// others, and calls the mutate hooks with what changed.
    fn mutate_to(&self, mut fresh: Snapshot) -> Mutated {
        let declared = &self.shared.declared;
        let old = self.snapshot();
        let mut ignored = Vec::new();
        for (group, option) in old.changed_options(&fresh) {
            let mutable = declared
                .get(&group, &option)
                .is_none_or(|spec| spec.mutable);
            if !mutable {
                fresh.copy_option_from(&old, &group, &option);
                ignored.push((group, option));
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
        Mutated { changed, ignored }
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
        checked(
            providers::read_sized_as(sources, &self.snapshot())?,
            &self.shared.groups,
        )
    }

    fn replace(&self, fresh: Snapshot) -> Vec<(String, String)> {
        let mut current = self
            .shared
            .current
            .write()
            .unwrap_or_else(|poison| poison.into_inner());
        let changed = current.changed_options(&fresh);
        *current = Arc::new(fresh);
        self.shared.replaced.send_modify(|times| *times += 1);
        changed
    }

    /// A receiver that sees every time the values are replaced by a reload or a
    /// `mutate`: what the periodic tasks that take settings from options follow.
    pub(crate) fn replacements(&self) -> tokio::sync::watch::Receiver<u64> {
        self.shared.replaced.subscribe()
    }
}
