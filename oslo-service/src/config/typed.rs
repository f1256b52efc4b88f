//! Reading one declared option from a snapshot: its values (or a deprecated name's, or
//! its default), parsed into the field's type and checked against its bounds and
//! choices. The code `#[oslo::options]` generates calls [`read_option`] per field.

use std::collections::BTreeMap;
use std::path::Path;

use super::spec::{Bound, OptionSpec, OptionType};
use super::{ConfigError, InvalidValue, OptionValue, RawValue, Snapshot};

/// How a field's type is read from the values set for its option: a scalar from the
/// last value, a list from comma-separated items, a multi-valued option from every
/// value, a dict from `key:value` pairs.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a type an option can have",
    label = "not an option type",
    note = "options take String, bool, integers, f64, oslo::config::Port, Duration, PathBuf, Vec<T>, BTreeMap<String, String>, Option<T>, a type that implements oslo::config::OptionValue, or a type that derives serde::Deserialize with `#[opt(serde)]` on the field"
)]
pub trait OptionField: Sized {
    /// Reads the values (at least one, in the order written); on failure, the index of
    /// the value at fault and why.
    fn from_values(values: &[&str], spec: &OptionSpec) -> Result<Self, (usize, String)>;

    /// The value of an option that is not set and has no default, if the type has one.
    fn unset() -> Option<Self> {
        None
    }
}

impl<T: OptionValue> OptionField for T {
    fn from_values(values: &[&str], spec: &OptionSpec) -> Result<Self, (usize, String)> {
        let last = values.len().saturating_sub(1);
        let text = values.get(last).copied().unwrap_or_default();
        parse_item(text, spec).map_err(|reason| (last, reason))
    }
}

impl<T: OptionValue> OptionField for Option<T> {
    fn from_values(values: &[&str], spec: &OptionSpec) -> Result<Self, (usize, String)> {
        T::from_values(values, spec).map(Some)
    }

    fn unset() -> Option<Self> {
        Some(None)
    }
}

impl<T: OptionValue> OptionField for Vec<T> {
    fn from_values(values: &[&str], spec: &OptionSpec) -> Result<Self, (usize, String)> {
        let mut items = Vec::new();
        for (index, text) in values.iter().enumerate() {
            if spec.kind == OptionType::MultiString {
                items.push(parse_item(text, spec).map_err(|reason| (index, reason))?);
                continue;
            }
            // Several values of a list (a key repeated, a TOML array) add up.
            for item in split_list(text) {
                items.push(parse_item(item, spec).map_err(|reason| (index, reason))?);
            }
        }
        Ok(items)
    }

    fn unset() -> Option<Self> {
        Some(Vec::new())
    }
}

impl OptionField for BTreeMap<String, String> {
    fn from_values(values: &[&str], _spec: &OptionSpec) -> Result<Self, (usize, String)> {
        let mut map = BTreeMap::new();
        for (index, text) in values.iter().enumerate() {
            for pair in split_list(text) {
                let (key, value) = pair.split_once(':').ok_or_else(|| {
                    (
                        index,
                        format!("expected key:value pairs separated by commas, not '{pair}'"),
                    )
                })?;
                map.insert(key.trim().to_owned(), value.trim().to_owned());
            }
        }
        Ok(map)
    }

    fn unset() -> Option<Self> {
        Some(BTreeMap::new())
    }
}

/// Items of a comma-separated list, trimmed; an empty text is an empty list.
fn split_list(text: &str) -> impl Iterator<Item = &str> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
}

/// One item checked against the choices and bounds, then parsed.
fn parse_item<T: OptionValue>(text: &str, spec: &OptionSpec) -> Result<T, String> {
    let text = text.trim();
    if !spec.choices.is_empty() && !spec.choices.contains(&text) {
        return Err(format!(
            "expected one of {}",
            spec.choices
                .iter()
                .map(|c| format!("'{c}'"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let value = T::parse_option(text)?;
    check_bounds(text, spec)?;
    Ok(value)
}

fn check_bounds(text: &str, spec: &OptionSpec) -> Result<(), String> {
    let below = |bound: &Bound| match bound {
        Bound::Int(min) => text.parse::<i128>().is_ok_and(|n| n < *min),
        Bound::Float(min) => text.parse::<f64>().is_ok_and(|x| x < *min),
    };
    let above = |bound: &Bound| match bound {
        Bound::Int(max) => text.parse::<i128>().is_ok_and(|n| n > *max),
        Bound::Float(max) => text.parse::<f64>().is_ok_and(|x| x > *max),
    };
    let out_of_range = spec.min.as_ref().is_some_and(below) || spec.max.as_ref().is_some_and(above);
    if !out_of_range {
        return Ok(());
    }
    Err(match (&spec.min, &spec.max) {
        (Some(min), Some(max)) => format!("out of range: expected a value from {min} to {max}"),
        (Some(min), None) => format!("should be greater than or equal to {min}"),
        (None, _) => format!(
            "should be less than or equal to {}",
            spec.max
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default()
        ),
    })
}

/// The values that apply to `spec` in `snapshot`: those of its own name, else those of
/// the first deprecated name that is set (with a warning), else none.
pub(crate) fn values_of<'a>(snapshot: &'a Snapshot, spec: &OptionSpec) -> &'a [RawValue] {
    values_found(snapshot, spec, true)
}

/// [`values_of`], warning of a deprecated name in use only when `warn` is true.
pub(crate) fn values_found<'a>(
    snapshot: &'a Snapshot,
    spec: &OptionSpec,
    warn: bool,
) -> &'a [RawValue] {
    let own = snapshot.raw_all(spec.group, spec.name);
    if !own.is_empty() {
        return own;
    }
    for old in spec.deprecated {
        let group = old.group.unwrap_or(spec.group);
        let name = old.name.unwrap_or(spec.name);
        let found = snapshot.raw_all(group, name);
        if !found.is_empty() {
            if !warn {
                return found;
            }
            tracing::warn!(
                option = %format_args!("{group}.{name}"),
                replacement = %spec.qualified_name(),
                "deprecated option name in use"
            );
            return found;
        }
    }
    &[]
}

/// The errors of a group's fields, kept while the others are read: what
/// `#[oslo::options]` generates, so that one read of a group names every bad value in it.
#[derive(Debug, Default)]
pub struct FieldErrors(Vec<ConfigError>);

impl FieldErrors {
    /// The field's value, or `None` with its error kept.
    pub fn keep<T>(&mut self, read: Result<T, ConfigError>) -> Option<T> {
        read.map_err(|err| self.0.push(err)).ok()
    }

    /// The error of the group: the one kept, or [`ConfigError::Several`].
    pub fn into_error(self) -> ConfigError {
        match ConfigError::all(self.0) {
            Err(err) => err,
            // Only called when a field had no value: never without an error.
            Ok(()) => ConfigError::Several(Vec::new()),
        }
    }
}

/// Reads the option `spec` declares, typed: what `#[oslo::options]` generates per field.
pub fn read_option<T: OptionField>(
    snapshot: &Snapshot,
    spec: &OptionSpec,
) -> Result<T, ConfigError> {
    read_with(
        snapshot,
        spec,
        |texts| T::from_values(texts, spec),
        T::unset,
    )
}

/// Reads the option `spec` declares into `T` through serde: what `#[opt(serde)]`
/// generates for a type of the user's that derives `Deserialize`. The text is read
/// leniently, as a string (`fast` into a unit variant, `8080` into a number) or, when
/// that does not fit and it holds `key:value` pairs, as a map (a struct of a dict
/// option); an unset option without a default reads as "none" (`Option<T>`).
pub fn read_serde<T: serde::de::DeserializeOwned>(
    snapshot: &Snapshot,
    spec: &OptionSpec,
) -> Result<T, ConfigError> {
    let last = |texts: &[&str]| {
        let index = texts.len().saturating_sub(1);
        from_text(texts.get(index).copied().unwrap_or_default()).map_err(|reason| (index, reason))
    };
    let none = || {
        extract(figment::value::Value::Empty(
            figment::value::Tag::Default,
            figment::value::Empty::None,
        ))
        .ok()
    };
    read_with(snapshot, spec, last, none)
}

/// The one way an option is read: its values (or a deprecated name's) through `parse`,
/// else the required check, else its default through `parse`, else `unset`. A value
/// that does not parse is an error naming where it was written.
fn read_with<T>(
    snapshot: &Snapshot,
    spec: &OptionSpec,
    parse: impl Fn(&[&str]) -> Result<T, (usize, String)>,
    unset: impl FnOnce() -> Option<T>,
) -> Result<T, ConfigError> {
    let missing = || ConfigError::MissingRequired {
        group: spec.group.to_owned(),
        option: spec.name.to_owned(),
    };
    let raws = values_of(snapshot, spec);
    if !raws.is_empty() {
        let texts: Vec<&str> = raws.iter().map(|raw| raw.text.as_str()).collect();
        return parse(&texts).map_err(|(index, reason)| {
            let raw = &raws[index.min(raws.len() - 1)];
            ConfigError::InvalidValue(Box::new(InvalidValue {
                file: raw.file.as_deref().map(Path::to_owned),
                line: raw.line,
                group: spec.group.to_owned(),
                option: spec.name.to_owned(),
                value: raw.text.clone(),
                reason,
            }))
            .masked(|group, option, text| {
                if spec.secret {
                    super::mask::MASK.to_owned()
                } else {
                    super::error::shown_by_name(group, option, text)
                }
            })
        });
    }
    if spec.required {
        return Err(missing());
    }
    if !spec.default.is_empty() {
        return parse(spec.default).map_err(|(index, reason)| ConfigError::InvalidDefault {
            group: spec.group.to_owned(),
            option: spec.name.to_owned(),
            value: spec.default[index.min(spec.default.len() - 1)].to_owned(),
            reason,
        });
    }
    unset().ok_or_else(missing)
}

/// `text` into `T`: as a string first, then as `key:value` pairs.
fn from_text<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    let as_string = extract(figment::value::Value::from(text.trim().to_owned()));
    if as_string.is_ok() || !text.contains(':') {
        return as_string;
    }
    let mut dict = figment::value::Dict::new();
    for pair in split_list(text) {
        let (key, value) = pair
            .split_once(':')
            .ok_or_else(|| format!("expected key:value pairs separated by commas, not '{pair}'"))?;
        dict.insert(
            key.trim().to_owned(),
            figment::value::Value::from(value.trim().to_owned()),
        );
    }
    extract(figment::value::Value::from(dict))
}

fn extract<T: serde::de::DeserializeOwned>(value: figment::value::Value) -> Result<T, String> {
    let mut root = figment::value::Dict::new();
    root.insert("value".to_owned(), value);
    figment::Figment::from(figment::providers::Serialized::defaults(root))
        .extract_inner_lossy::<T>("value")
        .map_err(|err| reason(&err.kind))
}

/// What serde (through figment) found wrong, in the words the other options' errors
/// use: figment's own text of a list of names quotes it twice over.
fn reason(kind: &figment::error::Kind) -> String {
    use figment::error::Kind;
    let one_of = |names: &[&str]| {
        let quoted: Vec<String> = names.iter().map(|name| format!("'{name}'")).collect();
        quoted.join(", ")
    };
    match kind {
        Kind::UnknownVariant(_, expected) => format!("expected one of {}", one_of(expected)),
        Kind::UnknownField(found, expected) if !expected.is_empty() => {
            format!(
                "unknown key '{found}', expected one of {}",
                one_of(expected)
            )
        }
        Kind::UnknownField(found, _) => format!("unknown key '{found}'"),
        Kind::MissingField(name) => format!("missing key '{name}'"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::spec::DeprecatedName;
    use std::time::Duration;

    const BASE: OptionSpec = OptionSpec {
        name: "k",
        group: "g",
        namespace: "test",
        kind: OptionType::String,
        type_name: "string",
        default: &[],
        help: "",
        min: None,
        max: None,
        choices: &[],
        choice_help: &[],
        deprecated: &[],
        secret: false,
        mutable: false,
        required: false,
        cli: false,
    };

    fn read<T: OptionField>(ini: &str, spec: &OptionSpec) -> Result<T, String> {
        let snapshot = Snapshot::from_ini(ini, None).unwrap();
        read_option(&snapshot, spec).map_err(|err| err.to_string())
    }

    #[test]
    fn scalars_bounds_and_choices() {
        let int = OptionSpec {
            kind: OptionType::Integer,
            min: Some(Bound::Int(1)),
            max: Some(Bound::Int(10)),
            default: &["5"],
            ..BASE
        };
        assert_eq!(read::<u32>("[g]\nk = 7\n", &int), Ok(7));
        assert_eq!(read::<u32>("[g]\n", &int), Ok(5));
        assert_eq!(
            read::<u32>("[g]\nk = 11\n", &int).unwrap_err(),
            "invalid value '11' for option k in group [g]: out of range: expected a value from 1 to 10"
        );
        assert!(
            read::<u32>("[g]\nk = 0\n", &int)
                .unwrap_err()
                .contains("from 1 to 10")
        );
        let choice = OptionSpec {
            choices: &["a", "b"],
            ..BASE
        };
        assert_eq!(read::<Option<String>>("[g]\n", &choice), Ok(None));
        assert_eq!(
            read::<Option<String>>("[g]\nk = b\n", &choice)
                .unwrap()
                .as_deref(),
            Some("b")
        );
        assert!(
            read::<String>("[g]\nk = c\n", &choice)
                .unwrap_err()
                .ends_with("expected one of 'a', 'b'")
        );
        assert_eq!(
            read::<Duration>("[g]\nk = 1m\n", &BASE),
            Ok(Duration::from_secs(60))
        );
    }

    #[test]
    fn lists_multi_and_dicts() {
        assert_eq!(
            read::<Vec<u32>>("[g]\nk = 1, 2,3\n", &BASE),
            Ok(vec![1, 2, 3])
        );
        assert_eq!(read::<Vec<u32>>("[g]\n", &BASE), Ok(vec![]));
        let multi = OptionSpec {
            kind: OptionType::MultiString,
            default: &["x,y", "z"],
            ..BASE
        };
        assert_eq!(
            read::<Vec<String>>("[g]\nk = a,b\nk = c\n", &multi),
            Ok(vec!["a,b".to_owned(), "c".to_owned()])
        );
        assert_eq!(
            read::<Vec<String>>("[g]\n", &multi),
            Ok(vec!["x,y".to_owned(), "z".to_owned()])
        );
        let dict = read::<BTreeMap<String, String>>("[g]\nk = a:1, b:http://x\n", &BASE).unwrap();
        assert_eq!(dict["a"], "1");
        assert_eq!(dict["b"], "http://x");
        assert!(read::<BTreeMap<String, String>>("[g]\nk = a\n", &BASE).is_err());
    }

    #[test]
    fn deprecated_names_required_and_bad_defaults() {
        let spec = OptionSpec {
            deprecated: &[DeprecatedName {
                group: Some("DEFAULT"),
                name: Some("old_k"),
            }],
            required: true,
            ..BASE
        };
        assert_eq!(
            read::<String>("[DEFAULT]\nold_k = v\n", &spec).as_deref(),
            Ok("v")
        );
        assert_eq!(
            read::<String>("[g]\nk = new\n[DEFAULT]\nold_k = v\n", &spec).as_deref(),
            Ok("new")
        );
        assert_eq!(
            read::<String>("[DEFAULT]\n", &spec).unwrap_err(),
            "missing value for required option k in group [g]"
        );
        let bad = OptionSpec {
            default: &["x"],
            ..BASE
        };
        assert!(
            read::<u8>("[g]\n", &bad)
                .unwrap_err()
                .starts_with("invalid default 'x'")
        );
    }
}
