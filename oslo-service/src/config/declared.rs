//! The declarations of the registered groups: found by group and name (or an older
//! name), checked against a snapshot, and used to substitute its references.

use super::mask;
use super::{ConfigError, GroupInfo, Masker, OptionSpec, Snapshot, builtin, substitute};

/// `snapshot` with oslo.config's substitution applied against the options of `groups`
/// (a value whose references do not resolve stays as written), then every group read:
/// the values, and every error found in them, secrets masked, in the order of the
/// files.
pub(super) fn prepared(snapshot: Snapshot, groups: &[GroupInfo]) -> (Snapshot, Vec<ConfigError>) {
    let index = SpecIndex::of(groups);
    let declared = |group: &str, option: &str| index.get(group, option);
    let declared_secret =
        |group: &str, option: &str| declared(group, option).is_some_and(|spec| spec.secret);
    // An error must not show a secret it was about to substitute, nor one that fails:
    // the masker reads the values as written. It looks at every option, so it is made
    // only for an error, which most loads have none of.
    let masker = std::cell::OnceCell::new();
    let masker = || masker.get_or_init(|| Masker::new(&snapshot, declared_secret));
    let secret =
        |group: &str, option: &str| declared_secret(group, option) || mask::name_is_secret(option);
    let holds_secret = |group: &str, option: &str, text: &str| {
        secret(group, option) || masker().holds_secret(text)
    };
    let (changes, failed) = substitute::resolve(&snapshot, &declared, &index.specs, &holds_secret);
    let mut errors: Vec<ConfigError> = failed
        .into_iter()
        .map(|err| {
            err.masked(|group, option, text| {
                masker()
                    .show_in_error(secret(group, option), text)
                    .into_owned()
            })
        })
        .collect();
    let snapshot = substitute::with_changes(snapshot, changes);
    // A value left as written would fail its type too: it is said once.
    let unresolved: Vec<(String, String)> = errors
        .iter()
        .filter_map(|err| err.option())
        .map(|(group, option)| (group.to_owned(), option.to_owned()))
        .collect();
    if let Err(err) = check_groups(groups, &snapshot) {
        errors.extend(err.into_each().into_iter().filter(|err| {
            err.option().is_none_or(|(group, option)| {
                !unresolved
                    .iter()
                    .any(|(g, o)| g.as_str() == group && o.as_str() == option)
            })
        }));
    }
    errors.sort_by(|a, b| a.place().cmp(&b.place()));
    (snapshot, errors)
}

/// [`prepared`], as one error when there is any.
pub(super) fn checked(snapshot: Snapshot, groups: &[GroupInfo]) -> Result<Snapshot, ConfigError> {
    let (snapshot, errors) = prepared(snapshot, groups);
    ConfigError::all(errors).map(|()| snapshot)
}

/// The declarations of registered groups, found by group and name (or an older name).
#[derive(Default)]
pub(super) struct SpecIndex {
    specs: Vec<&'static OptionSpec>,
    /// Hashed with foldhash, as a snapshot's options are: a check may look up every
    /// option a file sets.
    by_name: std::collections::HashMap<
        (&'static str, &'static str),
        &'static OptionSpec,
        foldhash::fast::RandomState,
    >,
}

impl SpecIndex {
    pub(super) fn of(groups: &[GroupInfo]) -> Self {
        let specs: Vec<&'static OptionSpec> = groups
            .iter()
            .flat_map(|info| (info.options)().iter())
            .collect();
        let mut by_name = std::collections::HashMap::with_capacity_and_hasher(
            specs.len(),
            foldhash::fast::RandomState::default(),
        );
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

/// Reads every group, so that a bad value stops a start or a reload as a whole, and
/// says every bad value of every group; and, with `fatal_unknown_options`, refuses what
/// no declaration knows.
pub(super) fn check_groups(groups: &[GroupInfo], snapshot: &Snapshot) -> Result<(), ConfigError> {
    let index = SpecIndex::of(groups);
    let mut errors: Vec<ConfigError> = groups
        .iter()
        .filter_map(|info| (info.check)(snapshot).err())
        .collect();
    // When `[DEFAULT]` itself is bad, the error above says so: unknown options wait.
    let fatal = snapshot
        .group::<builtin::ServiceOptions>()
        .is_ok_and(|options| options.fatal_unknown_options);
    if fatal {
        let declared = |group: &str, option: &str| index.get(group, option).is_some();
        let unknown = super::unknown::find(groups, declared, snapshot);
        if !unknown.is_empty() {
            let found: Vec<String> = unknown
                .iter()
                .map(super::unknown::Unknown::describe)
                .collect();
            errors.push(ConfigError::Unknown(found.join("; ")));
        }
    }
    ConfigError::all(errors).map_err(|err| masked_error(err, &index, snapshot))
}

/// `err` without a secret of `snapshot` in it: the value of a secret option, or one
/// substituted from a secret, shows as `****`, and so does a URL that does not read as
/// one.
pub(super) fn masked_error(
    err: ConfigError,
    index: &SpecIndex,
    snapshot: &Snapshot,
) -> ConfigError {
    let declared_secret =
        |group: &str, option: &str| index.get(group, option).is_some_and(|spec| spec.secret);
    let masker = Masker::new(snapshot, declared_secret);
    err.masked(|group, option, text| {
        let secret = declared_secret(group, option) || mask::name_is_secret(option);
        masker.show_in_error(secret, text).into_owned()
    })
}
