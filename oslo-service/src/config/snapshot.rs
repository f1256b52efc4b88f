//! A snapshot: the values of every group at one moment, with where each was written,
//! and the typed groups already read from it.

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::{
    ConfigError, InvalidValue, OptionGroup, OptionValue, normalize_group, normalize_option,
};

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
    groups: Groups,
    typed: TypedGroups,
}

/// The options of one group. Hashed, not sorted: a large file inserts thousands, and
/// the few readers that want an order ([`Snapshot::iter`]) sort.
pub(crate) type Options = HashMap<String, Values, foldhash::fast::RandomState>;

/// The values of one option: nearly always one, kept inline (a large file's options
/// then cost one allocation less each to read and to drop).
pub(crate) type Values = smallvec::SmallVec<[RawValue; 1]>;

/// Groups of options by name: a snapshot's values, or one file's.
pub(crate) type Groups = BTreeMap<String, Options>;

/// Reads `<length>:<bytes>,` fields one after the other.
pub(crate) struct Netstrings<'a>(pub(crate) &'a [u8]);

/// Appends `bytes` to `out` as one `<length>:<bytes>,` field.
pub(crate) fn netstring(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(bytes.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(bytes);
    out.push(b',');
}

impl<'a> Netstrings<'a> {
    pub(crate) fn next(&mut self) -> Option<&'a [u8]> {
        let colon = self.0.iter().position(|&b| b == b':')?;
        let len: usize = std::str::from_utf8(&self.0[..colon]).ok()?.parse().ok()?;
        let end = colon.checked_add(1)?.checked_add(len)?;
        let field = self.0.get(colon + 1..end)?;
        if self.0.get(end) != Some(&b',') {
            return None;
        }
        self.0 = &self.0[end + 1..];
        Some(field)
    }
}

/// Groups already read from a snapshot, by type: each is read once per snapshot.
#[derive(Default)]
struct TypedGroups(Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>);

impl Clone for TypedGroups {
    fn clone(&self) -> Self {
        TypedGroups::default()
    }
}

impl PartialEq for TypedGroups {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for TypedGroups {}

impl std::fmt::Debug for TypedGroups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TypedGroups")
    }
}

impl Snapshot {
    /// Sets the values of `option` in `group` (names already normalized).
    pub(super) fn insert(&mut self, group: &str, option: &str, values: impl Into<Values>) {
        self.insert_owned(group, option.to_owned(), values);
    }

    /// Puts a later source's values over these, option by option; a group this snapshot
    /// does not have yet is taken whole.
    pub(super) fn overlay(&mut self, values: Groups) {
        for (group, options) in values {
            match self.groups.get_mut(&group) {
                Some(known) => known.extend(options),
                None => {
                    self.groups.insert(group, options);
                }
            }
        }
    }

    /// The values by group and option.
    pub(crate) fn groups(&self) -> &Groups {
        &self.groups
    }

    /// [`Snapshot::insert`] with the option's name already owned.
    pub(super) fn insert_owned(&mut self, group: &str, option: String, values: impl Into<Values>) {
        // The group is there most of the time: no key to allocate then.
        let options = match self.groups.get_mut(group) {
            Some(options) => options,
            None => self.groups.entry(group.to_owned()).or_default(),
        };
        options.insert(option, values.into());
    }

    /// The group `T`, read and checked once per snapshot and shared afterwards.
    pub fn group<T: OptionGroup>(&self) -> Result<Arc<T>, ConfigError> {
        let key = TypeId::of::<T>();
        let cached = |typed: &HashMap<TypeId, Arc<dyn Any + Send + Sync>>| {
            typed
                .get(&key)
                .and_then(|any| Arc::clone(any).downcast::<T>().ok())
        };
        if let Some(found) = cached(&self.typed.0.lock().unwrap_or_else(|p| p.into_inner())) {
            return Ok(found);
        }
        let fresh = Arc::new(T::from_snapshot(self)?);
        let mut typed = self.typed.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(found) = cached(&typed) {
            return Ok(found);
        }
        typed.insert(key, fresh.clone());
        Ok(fresh)
    }

    /// Every group and option set, with its values, options in no particular order:
    /// for the readers to whom the order does not matter.
    pub(crate) fn iter_unordered(&self) -> impl Iterator<Item = (&str, &str, &[RawValue])> {
        self.groups.iter().flat_map(|(group, options)| {
            options
                .iter()
                .map(move |(option, values)| (group.as_str(), option.as_str(), values.as_slice()))
        })
    }

    /// Every group and option set, with its values.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, &[RawValue])> {
        self.groups.iter().flat_map(|(group, options)| {
            let mut sorted: Vec<(&String, &Values)> = options.iter().collect();
            sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
            sorted
                .into_iter()
                .map(move |(option, values)| (group.as_str(), option.as_str(), values.as_slice()))
        })
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
            .map_or(&[], |values| values.as_slice())
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
            .masked(super::error::shown_by_name)
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

    /// The values as bytes, for another process to rebuild the very same snapshot with
    /// [`Snapshot::from_bytes`]: each value's group, option, file, line and text as
    /// netstrings (`<length>:<bytes>,`).
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut field = |bytes: &[u8]| netstring(&mut out, bytes);
        for (group, option, values) in self.iter_unordered() {
            for value in values {
                let file = value.file.as_deref().map(|f| {
                    use std::os::unix::ffi::OsStrExt as _;
                    f.as_os_str().as_bytes()
                });
                field(group.as_bytes());
                field(option.as_bytes());
                field(file.unwrap_or_default());
                field(value.line.to_string().as_bytes());
                field(value.text.as_bytes());
            }
        }
        out
    }

    /// The snapshot [`Snapshot::to_bytes`] wrote; `None` if the bytes are not such.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Option<Self> {
        use std::os::unix::ffi::OsStrExt as _;

        let mut fields = Netstrings(bytes);
        let mut snapshot = Snapshot::default();
        let mut files: HashMap<&[u8], Arc<Path>> = HashMap::new();
        while !fields.0.is_empty() {
            let group = std::str::from_utf8(fields.next()?).ok()?;
            let option = std::str::from_utf8(fields.next()?).ok()?;
            let file = fields.next()?;
            let file = (!file.is_empty()).then(|| {
                let path = files
                    .entry(file)
                    .or_insert_with(|| Arc::from(Path::new(std::ffi::OsStr::from_bytes(file))));
                Arc::clone(path)
            });
            let line = std::str::from_utf8(fields.next()?).ok()?.parse().ok()?;
            let text = std::str::from_utf8(fields.next()?).ok()?.to_owned();
            snapshot
                .groups
                .entry(group.to_owned())
                .or_default()
                .entry(option.to_owned())
                .or_default()
                .push(RawValue { text, file, line });
        }
        Some(snapshot)
    }

    /// The groups and options that differ between `self` and `other`.
    pub fn changed_options(&self, other: &Snapshot) -> Vec<(String, String)> {
        let same_texts = |a: &[RawValue], b: &[RawValue]| {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| a.text == b.text)
        };
        let empty = Options::default();
        let mut changed = Vec::new();
        let groups: std::collections::BTreeSet<&String> =
            self.groups.keys().chain(other.groups.keys()).collect();
        for group in groups {
            let mine = self.groups.get(group).unwrap_or(&empty);
            let theirs = other.groups.get(group).unwrap_or(&empty);
            let mut in_group: Vec<&String> = mine
                .iter()
                .filter(|(option, values)| {
                    theirs
                        .get(*option)
                        .is_none_or(|other| !same_texts(values, other))
                })
                .map(|(option, _)| option)
                .chain(theirs.keys().filter(|option| !mine.contains_key(*option)))
                .collect();
            in_group.sort_unstable();
            changed.extend(
                in_group
                    .into_iter()
                    .map(|option| (group.clone(), option.clone())),
            );
        }
        changed
    }

    pub(super) fn copy_option_from(&mut self, other: &Snapshot, group: &str, option: &str) {
        // Groups read before this change are out of date.
        self.typed = TypedGroups::default();
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
