//! The declarations of the registered groups: found by group and name (or an older
//! name), checked against a snapshot, and used to substitute its references.

use super::mask;
use super::{ConfigError, GroupInfo, Masker, OptionSpec, Snapshot, builtin, substitute};

/// `snapshot` with oslo.config's substitution applied, against the options of `groups`.
pub(super) fn substituted(
    snapshot: Snapshot,
    groups: &[GroupInfo],
) -> Result<Snapshot, ConfigError> {
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
pub(super) struct SpecIndex {
    specs: Vec<&'static OptionSpec>,
    by_name: std::collections::HashMap<(&'static str, &'static str), &'static OptionSpec>,
}

impl SpecIndex {
    pub(super) fn of(groups: &[GroupInfo]) -> Self {
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

    pub(super) fn get(&self, group: &str, option: &str) -> Option<&'static OptionSpec> {
        self.by_name.get(&(group, option)).copied()
    }
}

/// The runtime's groups followed by `groups`, each once.
pub(super) fn with_runtime_groups(groups: &[GroupInfo]) -> Vec<GroupInfo> {
    let mut all = builtin::GROUPS.to_vec();
    for group in groups {
        if !all.iter().any(|known| known.same_as(group)) {
            all.push(*group);
        }
    }
    all
}

/// Reads every group, so that a bad value stops a start or a reload as a whole; and,
/// with `fatal_unknown_options`, refuses what no declaration knows.
pub(super) fn check_groups(groups: &[GroupInfo], snapshot: &Snapshot) -> Result<(), ConfigError> {
    groups
        .iter()
        .try_for_each(|info| (info.check)(snapshot))
        .map_err(|err| masked_error(err, &SpecIndex::of(groups), snapshot))?;
    if snapshot
        .group::<builtin::ServiceOptions>()?
        .fatal_unknown_options
    {
        let index = SpecIndex::of(groups);
        let declared = |group: &str, option: &str| index.get(group, option).is_some();
        let unknown = super::unknown::find(groups, declared, snapshot);
        if !unknown.is_empty() {
            let found: Vec<String> = unknown
                .iter()
                .map(super::unknown::Unknown::describe)
                .collect();
            return Err(ConfigError::Unknown(found.join("; ")));
        }
    }
    Ok(())
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
