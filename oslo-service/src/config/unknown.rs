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
            // Lowered once for the group, not once per unknown option: `[DEFAULT]` may
            // hold thousands.
            let option_names = Candidates::of(
                declared_here
                    .iter()
                    .flat_map(|info| (info.options)().iter().map(|spec| spec.name)),
            );
            Unknown {
                group: group.to_owned(),
                declared,
                group_suggestion: (!declared)
                    .then(|| Candidates::of(groups.iter().map(|info| info.group)).closest(group))
                    .flatten(),
                options: options
                    .into_iter()
                    .map(|(name, values)| UnknownOption {
                        name: name.to_owned(),
                        at: values.first().and_then(place),
                        suggestion: option_names.closest(name),
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

/// Declared names a name may be a typo of, each lowered and with the most edits it
/// allows.
struct Candidates(Vec<Candidate>);

struct Candidate {
    name: &'static str,
    lowered: Vec<char>,
    allowed: usize,
    letters: Letters,
}

/// How many of each letter a name holds (letters that share a slot counted together):
/// an edit changes at most two counts by one, so half the counts two names differ by
/// is a floor of their distance, found without the table.
#[derive(Clone, Copy)]
struct Letters([u8; 64]);

impl Letters {
    fn of(name: &[char]) -> Self {
        let mut counts = [0_u8; 64];
        for &c in name {
            let slot = &mut counts[c as usize % 64];
            *slot = slot.saturating_add(1);
        }
        Letters(counts)
    }

    /// The fewest edits that could take one of the names counted to the other.
    fn fewest_edits(&self, other: &Letters) -> usize {
        let apart: usize = (self.0.iter().zip(&other.0))
            .map(|(a, b)| usize::from(a.abs_diff(*b)))
            .sum();
        apart.div_ceil(2)
    }
}

impl Candidates {
    fn of(names: impl Iterator<Item = &'static str>) -> Self {
        Candidates(
            names
                .map(|name| {
                    let lowered: Vec<char> = name.to_ascii_lowercase().chars().collect();
                    Candidate {
                        name,
                        allowed: edits_allowed(lowered.len()),
                        letters: Letters::of(&lowered),
                        lowered,
                    }
                })
                .collect(),
        )
    }

    /// The candidate closest to `name` (edits, a swap of neighbours counting as one),
    /// when it is close enough; the first of the closest on a tie.
    fn closest(&self, name: &str) -> Option<&'static str> {
        if self.0.is_empty() {
            return None;
        }
        let wanted: Vec<char> = name
            .chars()
            .map(|c| {
                if c == '-' {
                    '_'
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect();
        let letters = Letters::of(&wanted);
        let mut table = Table::default();
        let mut best: Option<(usize, &'static str)> = None;
        for candidate in &self.0 {
            if candidate.name == name {
                continue;
            }
            // Nothing further than the best so far, or than the candidate allows, counts.
            let bound = match best {
                Some((0, _)) => break,
                Some((distance, _)) => candidate.allowed.min(distance - 1),
                None => candidate.allowed,
            };
            if letters.fewest_edits(&candidate.letters) > bound {
                continue;
            }
            if let Some(distance) = table.osa_within(&wanted, &candidate.lowered, bound) {
                best = Some((distance, candidate.name));
            }
        }
        best.map(|(_, name)| name)
    }
}

/// The rows of an edit distance table, kept from one candidate to the next.
#[derive(Default)]
struct Table {
    before: Vec<usize>,
    last: Vec<usize>,
    row: Vec<usize>,
}

impl Table {
    /// The optimal string alignment distance between `a` and `b` (insertions,
    /// deletions, substitutions and swaps of neighbours, each counting one, no part
    /// edited twice), when it is at most `bound`; `None` as soon as it cannot be.
    fn osa_within(&mut self, a: &[char], b: &[char], bound: usize) -> Option<usize> {
        if a.len().abs_diff(b.len()) > bound {
            return None;
        }
        // Three rows: two back (for a swap), the last, and the one being made.
        let width = b.len() + 1;
        let Table { before, last, row } = self;
        before.clear();
        before.resize(width, 0);
        last.clear();
        last.extend(0..width);
        row.clear();
        row.resize(width, 0);
        for i in 1..=a.len() {
            row[0] = i;
            let mut lowest = i;
            for j in 1..width {
                let cost = usize::from(a[i - 1] != b[j - 1]);
                let mut cell = (last[j] + 1).min(row[j - 1] + 1).min(last[j - 1] + cost);
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    cell = cell.min(before[j - 2] + 1);
                }
                row[j] = cell;
                lowest = lowest.min(cell);
            }
            // A row's least entry never falls in the rows below it.
            if lowest > bound {
                return None;
            }
            std::mem::swap(before, last);
            std::mem::swap(last, row);
        }
        let distance = last[width - 1];
        (distance <= bound).then_some(distance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_names_are_suggested_far_ones_are_not() {
        let groups = ["DEFAULT", "inventory", "ssl", "coordination"];
        let groups = Candidates::of(groups.into_iter());
        let pick = |name| groups.closest(name);
        assert_eq!(pick("inventroy"), Some("inventory"));
        assert_eq!(pick("Inventory"), Some("inventory"));
        assert_eq!(pick("invntory"), Some("inventory"));
        assert_eq!(pick("sl"), Some("ssl"));
        assert_eq!(pick("coordinaton"), Some("coordination"));
        assert_eq!(pick("database"), None);
        assert_eq!(pick("x"), None);
        let options = ["reservation_ttl", "port", "host"];
        let options = Candidates::of(options.into_iter());
        let pick = |name| options.closest(name);
        assert_eq!(pick("reservaton_ttl"), Some("reservation_ttl"));
        assert_eq!(pick("reservation-ttl"), Some("reservation_ttl"));
        assert_eq!(pick("prot"), Some("port"));
        assert_eq!(pick("hosts"), Some("host"));
        assert_eq!(pick("workers"), None);
        // The first of the closest on a tie; an exact match (but for case) first.
        let options = Candidates::of(["hast", "hose", "HOST", "host"].into_iter());
        assert_eq!(options.closest("hostt"), Some("HOST"));
        assert_eq!(options.closest("hosz"), Some("hose"));
        assert_eq!(Candidates::of(std::iter::empty()).closest("host"), None);
    }

    #[test]
    fn the_bounded_distance_is_strsims_within_its_bound() {
        let words = [
            "",
            "a",
            "ab",
            "ba",
            "abc",
            "acb",
            "bca",
            "port",
            "prot",
            "host",
            "hosts",
            "reservation_ttl",
            "reservaton_ttl",
            "rsvreation_ttl",
            "inventory",
            "inventroy",
            "ünïcode",
            "unicode",
            "coordination",
            "coordinaton",
            "default_opt_12",
            "debug",
        ];
        // One table for all: a closest() reuses it from candidate to candidate.
        let mut table = Table::default();
        for a in words {
            for b in words {
                let (x, y): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
                let want = strsim::osa_distance(a, b);
                let floor = Letters::of(&x).fewest_edits(&Letters::of(&y));
                assert!(floor <= want, "{a} {b}");
                for bound in 0..=want + 1 {
                    let got = table.osa_within(&x, &y, bound);
                    assert_eq!(got, (want <= bound).then_some(want), "{a} {b} {bound}");
                }
            }
        }
    }
}
