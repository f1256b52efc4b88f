//! What no declaration knows: groups that no registered group declares, and options
//! of a registered group that it does not declare. Probably typos, so each comes with
//! where it was set and, when a declared name is close, that name.

use std::collections::BTreeMap;
use std::path::Path;

use super::{GroupInfo, RawValue, Snapshot};

/// The most edits a name may be away from a declared one to be suggested, for a
/// declared name of `len` characters: one per three characters, at least one.
fn edits_allowed(len: usize) -> usize {
    (len / 3).max(1)
}

/// A group of a snapshot with something in it no declaration knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Unknown {
    pub(crate) group: String,
    /// Whether a registered group declares `group` (then only some of its options are
    /// unknown); otherwise all its options are.
    pub(crate) declared: bool,
    /// For an undeclared group, the declared group whose name is closest.
    pub(crate) group_suggestion: Option<&'static str>,
    /// Its unknown options, sorted, each with where it was first set and the declared
    /// option of the group whose name is closest.
    pub(crate) options: Vec<UnknownOption>,
}

/// An option no declaration knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct UnknownOption {
    pub(crate) name: String,
    /// `file:line`, when it was set in a file.
    pub(crate) at: Option<String>,
    pub(crate) suggestion: Option<&'static str>,
}

impl Unknown {
    /// Where the group was first set (its first option's place), as `file:line`.
    pub(crate) fn at(&self) -> Option<&str> {
        self.options.iter().find_map(|option| option.at.as_deref())
    }

    /// The options as one text: `name (file:line, did you mean `other`?)`, comma
    /// separated.
    pub(crate) fn options_text(&self) -> String {
        let shown: Vec<String> = self
            .options
            .iter()
            .map(|option| {
                let mut notes = Vec::new();
                if let Some(at) = &option.at {
                    notes.push(at.clone());
                }
                if let Some(suggestion) = option.suggestion {
                    notes.push(format!("did you mean `{suggestion}`?"));
                }
                if notes.is_empty() {
                    option.name.clone()
                } else {
                    format!("{} ({})", option.name, notes.join(", "))
                }
            })
            .collect();
        shown.join(", ")
    }

    /// One line an operator can act on, without the field data of a log line.
    pub(crate) fn describe(&self) -> String {
        let at = self.at().map(|at| format!("{at}: ")).unwrap_or_default();
        if self.declared {
            return format!(
                "{at}unknown option{} in group [{}]: {}",
                if self.options.len() == 1 { "" } else { "s" },
                self.group,
                self.options_text()
            );
        }
        let suggestion = self
            .group_suggestion
            .map(|group| format!(" (did you mean [{group}]?)"))
            .unwrap_or_default();
        format!(
            "{at}no options group of this program declares [{}]{suggestion}",
            self.group
        )
    }
}

/// What in `snapshot` no declaration of `groups` knows, by group; `declared` says
/// whether a declaration knows an option (by its name or an older one).
pub(crate) fn find(
    groups: &[GroupInfo],
    declared: impl Fn(&str, &str) -> bool,
    snapshot: &Snapshot,
) -> Vec<Unknown> {
    let mut found: BTreeMap<&str, Vec<(&str, &[RawValue])>> = BTreeMap::new();
    for (group, option, values) in snapshot.iter_unordered() {
        if !declared(group, option) {
            found.entry(group).or_default().push((option, values));
        }
    }
    found
        .into_iter()
        .map(|(group, mut options)| {
            options.sort_unstable_by_key(|(name, _)| *name);
            let declared_here: Vec<&GroupInfo> =
                groups.iter().filter(|info| info.group == group).collect();
            let declared = !declared_here.is_empty();
            let option_names: Vec<&'static str> = declared_here
                .iter()
                .flat_map(|info| (info.options)().iter().map(|spec| spec.name))
                .collect();
            Unknown {
                group: group.to_owned(),
                declared,
                group_suggestion: (!declared)
                    .then(|| closest(group, groups.iter().map(|info| info.group)))
                    .flatten(),
                options: options
                    .into_iter()
                    .map(|(name, values)| UnknownOption {
                        name: name.to_owned(),
                        at: values.first().and_then(place),
                        suggestion: closest(name, option_names.iter().copied()),
                    })
                    .collect(),
            }
        })
        .collect()
}

/// `file:line` of a value read from a file.
fn place(value: &RawValue) -> Option<String> {
    let file: &Path = value.file.as_deref()?;
    Some(format!("{}:{}", file.display(), value.line))
}

/// The candidate closest to `name` (edits, a swap of neighbours counting as one),
/// when it is close enough; the first of the closest on a tie.
fn closest(name: &str, candidates: impl Iterator<Item = &'static str>) -> Option<&'static str> {
    let wanted = name.to_ascii_lowercase().replace('-', "_");
    candidates
        .filter(|candidate| *candidate != name)
        .map(|candidate| {
            let distance = strsim::osa_distance(&wanted, &candidate.to_ascii_lowercase());
            (distance, candidate)
        })
        .filter(|(distance, candidate)| *distance <= edits_allowed(candidate.chars().count()))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_names_are_suggested_far_ones_are_not() {
        let groups = ["DEFAULT", "inventory", "ssl", "coordination"];
        let pick = |name| closest(name, groups.iter().copied());
        assert_eq!(pick("inventroy"), Some("inventory"));
        assert_eq!(pick("Inventory"), Some("inventory"));
        assert_eq!(pick("invntory"), Some("inventory"));
        assert_eq!(pick("sl"), Some("ssl"));
        assert_eq!(pick("coordinaton"), Some("coordination"));
        assert_eq!(pick("database"), None);
        assert_eq!(pick("x"), None);
        let options = ["reservation_ttl", "port", "host"];
        let pick = |name| closest(name, options.iter().copied());
        assert_eq!(pick("reservaton_ttl"), Some("reservation_ttl"));
        assert_eq!(pick("reservation-ttl"), Some("reservation_ttl"));
        assert_eq!(pick("prot"), Some("port"));
        assert_eq!(pick("hosts"), Some("host"));
        assert_eq!(pick("workers"), None);
    }
}
