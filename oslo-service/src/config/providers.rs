//! Reading the sources into a [`Snapshot`]: each source is a figment [`Provider`] whose
//! values go over the ones before it (files in order, then directories, then the
//! environment), so that the last source to set an option wins.
//!
//! figment's values do not know their line, so INI files go into the snapshot with
//! each value's file and line, and messages about bad values keep their `file:line:`
//! prefix.
//!
//! Layout of the data every provider gives figment: one dict per group (`DEFAULT`
//! included, as is), holding the group's options by name; group names other than
//! `DEFAULT` in lower case, option names with `_` for `-`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use figment::providers::{Env, Format, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Metadata, Profile, Provider, Source};

use super::{ConfigError, ConfigSources, DEFAULT_GROUP, RawValue, Snapshot, ini};
use super::{normalize_group, normalize_option};

/// The values of one file, by group and option, in the order written: the layout of a
/// snapshot, so that a file's values go into one without being sorted again.
type FileValues = super::snapshot::Groups;

/// An oslo-style INI file as a figment provider: `[DEFAULT]` and named sections,
/// comments, continuation lines, and repeated keys (a multi-valued option) as an array.
///
/// ```
/// use figment::Figment;
/// use oslo::config::IniFile;
///
/// let ini = IniFile::from_text("[DEFAULT]\ndebug = true\n[api]\nport = 8080\n", None)?;
/// let figment = Figment::from(ini);
/// assert_eq!(figment.extract_inner::<String>("api.port").unwrap(), "8080");
/// // INI values are text; figment's lossy extraction reads "true" as a bool.
/// assert!(figment.extract_inner_lossy::<bool>("DEFAULT.debug").unwrap());
/// # Ok::<(), oslo::config::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct IniFile {
    path: Option<PathBuf>,
    values: Arc<FileValues>,
}

impl IniFile {
    /// Reads and parses the file at `path`.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        Self::read_sized_as(path, &FileValues::new())
    }

    /// Parses `text`; `path` names where it came from in messages.
    pub fn from_text(text: &str, path: Option<&Path>) -> Result<Self, ConfigError> {
        Self::parse(text, path, &FileValues::new())
    }

    /// Reads the file at `path`, its groups sized as those of `known` (the values before a
    /// reload, which a file mostly keeps): a large group is then not grown step by step.
    fn read_sized_as(path: &Path, known: &FileValues) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            error: source,
        })?;
        Self::parse(&text, Some(path), known)
    }

    fn parse(text: &str, path: Option<&Path>, known: &FileValues) -> Result<Self, ConfigError> {
        let sized = |group: &str| {
            let capacity = known.get(group).map_or(0, |options| options.len());
            super::snapshot::Options::with_capacity_and_hasher(capacity, Default::default())
        };
        let file: Option<Arc<Path>> = path.map(Arc::from);
        let mut values = FileValues::new();
        // Sections are few and long: each one's name is normalized once, and its options
        // gather in `options` until the next header, not looked up among the groups at
        // every line.
        let (mut written, mut group) = (String::new(), String::new());
        let mut options = super::snapshot::Options::default();
        ini::parse_each(text, |section, key, value, line| {
            if section != written {
                merge_section(&mut values, std::mem::take(&mut group), &mut options);
                group = normalize_group(section);
                written = section.to_owned();
                if options.capacity() == 0 {
                    options = sized(&group);
                }
            }
            let option = if key.as_bytes().contains(&b'-') {
                normalize_option(&key)
            } else {
                key
            };
            options.entry(option).or_default().push(RawValue {
                text: value,
                file: file.clone(),
                line,
            });
        })
        .map_err(|err| ConfigError::Syntax {
            file: path.map(Path::to_owned).unwrap_or_default(),
            line: err.line,
            message: err.message,
        })?;
        merge_section(&mut values, group, &mut options);
        Ok(IniFile {
            path: path.map(Path::to_owned),
            values: Arc::new(values),
        })
    }

    /// The values, taken out of the file (copied only if the file is shared).
    pub(crate) fn into_values(self) -> FileValues {
        Arc::try_unwrap(self.values).unwrap_or_else(|shared| (*shared).clone())
    }
}

/// Puts the options of one section into `values`, after those of an earlier section
/// of the same name (a repeated key accumulates, as within a section).
fn merge_section(values: &mut FileValues, group: String, options: &mut super::snapshot::Options) {
    if options.is_empty() {
        return;
    }
    let options = std::mem::take(options);
    match values.get_mut(&group) {
        Some(known) => {
            for (option, raws) in options {
                known.entry(option).or_default().extend(raws);
            }
        }
        None => {
            values.insert(group, options);
        }
    }
}

impl Provider for IniFile {
    fn metadata(&self) -> Metadata {
        match &self.path {
            Some(path) => Metadata::from("INI file", path.as_path()),
            None => Metadata::named("INI text"),
        }
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut root = Dict::new();
        let each = self.values.iter().flat_map(|(group, options)| {
            options
                .iter()
                .map(move |(option, raws)| (group, option, raws))
        });
        for (group, option, raws) in each {
            let value = match raws.as_slice() {
                [one] => Value::from(one.text.clone()),
                many => Value::from(
                    many.iter()
                        .map(|raw| Value::from(raw.text.clone()))
                        .collect::<Vec<_>>(),
                ),
            };
            group_dict(&mut root, group).insert(option.clone(), value);
        }
        Ok(Profile::Default.collect(root))
    }
}

impl Snapshot {
    /// Parses INI `text`; `file` is only used to say where values came from. Within the
    /// text a repeated key accumulates (a multi-valued option).
    pub fn from_ini(text: &str, file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut snapshot = Snapshot::default();
        snapshot.overlay(IniFile::from_text(text, file)?.into_values());
        Ok(snapshot)
    }
}

/// A TOML file as a provider of the same layout: top-level keys are options of
/// `[DEFAULT]`, tables are groups.
struct TomlFile {
    path: PathBuf,
    text: String,
}

impl Provider for TomlFile {
    fn metadata(&self) -> Metadata {
        Metadata::from("TOML file", self.path.as_path())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let parsed = Toml::string(&self.text).data()?;
        let mut root = Dict::new();
        for (key, value) in parsed.into_values().flatten() {
            match value {
                Value::Dict(_, options) => {
                    let group = normalize_group(&key);
                    for (option, value) in options {
                        group_dict(&mut root, &group).insert(normalize_option(&option), value);
                    }
                }
                scalar => {
                    group_dict(&mut root, DEFAULT_GROUP).insert(normalize_option(&key), scalar);
                }
            }
        }
        Ok(Profile::Default.collect(root))
    }
}

fn group_dict<'a>(root: &'a mut Dict, group: &str) -> &'a mut Dict {
    let entry = root
        .entry(group.to_owned())
        .or_insert_with(|| Value::from(Dict::new()));
    if !matches!(entry, Value::Dict(..)) {
        *entry = Value::from(Dict::new());
    }
    match entry {
        Value::Dict(_, dict) => dict,
        _ => unreachable!("replaced by a dict just above"),
    }
}

/// The environment as a provider, named as oslo.config names it:
/// `<PREFIX><GROUP>__<OPTION>` sets an option of `[group]` (`OS_DEFAULT__DEBUG=true`,
/// `OS_POLLER__INTERVAL=10s`). Names are matched without regard to case.
fn environment(prefix: &str) -> Env {
    let prefix = prefix.to_owned();
    let env = Env::raw().filter_map(move |key| {
        let key = key.as_str();
        let rest = key
            .get(..prefix.len())
            .filter(|head| head.eq_ignore_ascii_case(&prefix))
            .map(|_| &key[prefix.len()..])?;
        let (group, option) = match rest.split_once("__")? {
            (group, option) if group.eq_ignore_ascii_case(DEFAULT_GROUP) => {
                (DEFAULT_GROUP.to_owned(), option)
            }
            (group, option) => (group.to_lowercase(), option),
        };
        if group.is_empty() || option.is_empty() || group.contains('.') || option.contains('.') {
            return None;
        }
        Some(format!("{group}.{}", normalize_option(&option.to_lowercase())).into())
    });
    // After `filter_map`, which would reset it.
    env.lowercase(false)
}

/// The variable that sets `option` of `group` under `prefix`.
pub(crate) fn env_name(prefix: &str, group: &str, option: &str) -> String {
    format!(
        "{prefix}{}__{}",
        group.to_uppercase(),
        option.to_uppercase()
    )
}

/// Whether `path` is read as TOML rather than INI.
pub(crate) fn is_toml(path: &Path) -> bool {
    path.extension().is_some_and(|ext| ext == "toml")
}

/// Reads every source, in order, into one snapshot: each source's values replace, option
/// by option, what the sources before it said (figment's merge, without building the
/// merged tree: INI files, the common case by far, go straight into the snapshot).
pub(crate) fn read(sources: &ConfigSources) -> Result<Snapshot, ConfigError> {
    read_sized_as(sources, &Snapshot::default())
}

/// [`read`], with the groups of INI files sized as those of `known`, the values the
/// sources gave last time.
pub(crate) fn read_sized_as(
    sources: &ConfigSources,
    known: &Snapshot,
) -> Result<Snapshot, ConfigError> {
    let mut snapshot = Snapshot::default();
    for path in sources.paths()? {
        if is_toml(&path) {
            let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                error: source,
            })?;
            let file = TomlFile {
                path: path.clone(),
                text,
            };
            let origin: Arc<Path> = Arc::from(path.as_path());
            fold(&mut snapshot, &file, |_, _| Some(Arc::clone(&origin)))?;
        } else {
            snapshot.overlay(IniFile::read_sized_as(&path, known.groups())?.into_values());
        }
    }
    if let Some(prefix) = &sources.env_prefix {
        fold(&mut snapshot, &environment(prefix), |group, option| {
            let name = env_name(prefix, group, option);
            Some(Arc::from(
                PathBuf::from(format!("environment variable {name}")).as_path(),
            ))
        })?;
    }
    // Last, over everything: the command line's flags; a flag given again adds a value.
    let mut given: Vec<((&str, &str), Vec<RawValue>)> = Vec::new();
    for (group, option, text) in &sources.cli {
        let raw = RawValue {
            text: text.clone(),
            file: Some(Arc::from(Path::new("the command line"))),
            line: 0,
        };
        match given
            .iter_mut()
            .find(|(key, _)| *key == (group.as_str(), option.as_str()))
        {
            Some((_, values)) => values.push(raw),
            None => given.push(((group, option), vec![raw])),
        }
    }
    for ((group, option), values) in given {
        snapshot.insert(group, option, values);
    }
    Ok(snapshot)
}

/// Puts the values `provider` gives into `snapshot`, over what it held; `origin` names
/// where each option's value came from.
fn fold(
    snapshot: &mut Snapshot,
    provider: &impl Provider,
    origin: impl Fn(&str, &str) -> Option<Arc<Path>>,
) -> Result<(), ConfigError> {
    let data = provider.data().map_err(|err| ConfigError::Format {
        file: provider
            .metadata()
            .source
            .as_ref()
            .and_then(Source::file_path)
            .map(Path::to_owned)
            .unwrap_or_default(),
        message: err.kind.to_string(),
    })?;
    for (group, value) in data.into_values().flatten() {
        let Value::Dict(_, options) = value else {
            continue;
        };
        for (option, value) in options {
            let raws = raw_values(&value, origin(&group, &option));
            snapshot.insert(&group, &option, raws);
        }
    }
    Ok(())
}

/// The texts of a value that is not from an INI file: an array gives one value per
/// item (as a repeated key does), a dict `key:value` pairs.
fn raw_values(value: &Value, file: Option<Arc<Path>>) -> Vec<RawValue> {
    let raw = |text| RawValue {
        text,
        file: file.clone(),
        line: 0,
    };
    match value {
        Value::Array(_, items) => items.iter().map(|item| raw(text_of(item))).collect(),
        other => vec![raw(text_of(other))],
    }
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(_, s) => s.clone(),
        Value::Char(_, c) => c.to_string(),
        Value::Bool(_, b) => b.to_string(),
        Value::Num(_, n) => match (n.to_u128(), n.to_i128(), n.to_f64()) {
            (Some(unsigned), _, _) => unsigned.to_string(),
            (_, Some(signed), _) => signed.to_string(),
            (_, _, Some(float)) => float.to_string(),
            _ => String::new(),
        },
        Value::Empty(..) => String::new(),
        Value::Dict(_, dict) => dict
            .iter()
            .map(|(key, value)| format!("{key}:{}", text_of(value)))
            .collect::<Vec<_>>()
            .join(","),
        Value::Array(_, items) => items.iter().map(text_of).collect::<Vec<_>>().join(","),
    }
}
