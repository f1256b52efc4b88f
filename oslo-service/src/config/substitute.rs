//! oslo.config's value substitution: `$opt` and `${opt}` stand for the value of option
//! `opt` of the same group (or of `[DEFAULT]` when the group has no such option),
//! `${group.opt}` for one of another group, and `$$` or `\$` for a literal `$`. A `$`
//! followed by no name stays as written.
//!
//! It applies to every value of a loaded snapshot, whatever its source (INI, TOML, the
//! environment), before any value is parsed, and to the declared defaults of options
//! that are not set. A reference to an option set nowhere (no value, no declaration) or
//! a cycle is an error naming the option, its file and line, and the reference; every
//! such error is found, not only the first. In a secret (a secret option, or a value
//! that holds one), the error names the option and the escape, `$$`, and nothing of the
//! text: a reference's name there would be a piece of the secret.

use std::collections::HashMap;
use std::path::Path;

use super::spec::OptionSpec;
use super::typed::values_found;
use super::{ConfigError, InvalidValue, RawValue, Snapshot, normalize_group, normalize_option};

/// Finds the declaration of an option, by group and name.
pub(crate) type Declared<'a> = dyn Fn(&str, &str) -> Option<&'static OptionSpec> + 'a;

/// Whether `(group, option, text)`, a value as written, is a secret or holds one.
pub(crate) type Secret<'a> = dyn Fn(&str, &str, &str) -> bool + 'a;

/// `snapshot` with every reference in its values replaced, and the substituted default
/// of each declared option that is unset and whose default holds a reference; and an
/// error for each option whose references do not resolve (left as written).
#[cfg(test)]
pub(crate) fn apply(
    snapshot: Snapshot,
    declared: &Declared<'_>,
    specs: &[&'static OptionSpec],
    secret: &Secret<'_>,
) -> (Snapshot, Vec<ConfigError>) {
    let (changes, errors) = resolve(&snapshot, declared, specs, secret);
    (with_changes(snapshot, changes), errors)
}

/// The values an option of `snapshot` takes once substituted, as group, option and
/// values.
pub(crate) type Changes = Vec<(String, String, Vec<RawValue>)>;

/// What [`apply`] changes in `snapshot`, without changing it yet: the caller may still
/// read the values as written (to mask the errors), then apply them with
/// [`with_changes`].
pub(crate) fn resolve(
    snapshot: &Snapshot,
    declared: &Declared<'_>,
    specs: &[&'static OptionSpec],
    secret: &Secret<'_>,
) -> (Changes, Vec<ConfigError>) {
    let mut changes: Changes = Vec::new();
    let mut errors = Vec::new();
    {
        let mut resolver = Resolver {
            snapshot,
            declared,
            secret,
            done: HashMap::new(),
            stack: Vec::new(),
        };
        // Only the few values with a `$` are visited, in order, so that the errors come
        // in the same order every time.
        let mut referring: Vec<(&str, &str, &[RawValue])> = snapshot
            .iter_unordered()
            .filter(|(_, _, values)| {
                values
                    .iter()
                    .any(|value| value.text.as_bytes().contains(&b'$'))
            })
            .collect();
        referring.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        'options: for (group, option, values) in referring {
            let mut substituted = Vec::with_capacity(values.len());
            for value in values {
                match resolver.expand(&value.text, group, (group, option)) {
                    Ok(text) => substituted.push(RawValue {
                        text,
                        ..value.clone()
                    }),
                    Err(reason) => {
                        errors.push(invalid(value, group, option, reason));
                        continue 'options;
                    }
                }
            }
            changes.push((group.to_owned(), option.to_owned(), substituted));
        }
        'specs: for spec in specs {
            let unset = values_found(snapshot, spec, false).is_empty();
            if !unset || !spec.default.iter().any(|text| text.contains('$')) {
                continue;
            }
            let mut substituted = Vec::with_capacity(spec.default.len());
            for text in spec.default {
                let raw = RawValue {
                    text: (*text).to_owned(),
                    file: None,
                    line: 0,
                };
                match resolver.expand(text, spec.group, (spec.group, spec.name)) {
                    Ok(expanded) => substituted.push(RawValue {
                        text: expanded,
                        ..raw
                    }),
                    Err(reason) => {
                        errors.push(invalid(&raw, spec.group, spec.name, reason));
                        continue 'specs;
                    }
                }
            }
            changes.push((spec.group.to_owned(), spec.name.to_owned(), substituted));
        }
    }
    (changes, errors)
}

/// `snapshot` with the values [`resolve`] found. Most configurations hold no reference
/// at all: then nothing is copied.
pub(crate) fn with_changes(snapshot: Snapshot, changes: Changes) -> Snapshot {
    let mut out = snapshot;
    for (group, option, values) in changes {
        out.insert(&group, &option, values);
    }
    out
}

fn invalid(value: &RawValue, group: &str, option: &str, reason: String) -> ConfigError {
    ConfigError::InvalidValue(Box::new(InvalidValue {
        file: value.file.as_deref().map(Path::to_owned),
        line: value.line,
        group: group.to_owned(),
        option: option.to_owned(),
        value: value.text.clone(),
        reason,
    }))
}

struct Resolver<'a> {
    snapshot: &'a Snapshot,
    declared: &'a Declared<'a>,
    secret: &'a Secret<'a>,
    /// The substituted value of each option resolved so far.
    done: HashMap<(String, String), String>,
    /// The options being resolved, outermost first: a reference to one is a cycle.
    stack: Vec<(String, String)>,
}

impl Resolver<'_> {
    /// `text` of option `at` (in `group`) with its references replaced. Why a secret's
    /// do not resolve names the option only.
    fn expand(&mut self, text: &str, group: &str, at: (&str, &str)) -> Result<String, String> {
        let key = (at.0.to_owned(), at.1.to_owned());
        self.stack.push(key);
        let expanded = self.expand_in(text, group);
        self.stack.pop();
        expanded.map_err(|reason| {
            if (self.secret)(at.0, at.1, text) {
                format!(
                    "a `$` in {}.{}, a secret (not shown), starts a reference that does not resolve: a `$` of the secret itself is written `$$`",
                    at.0, at.1
                )
            } else {
                reason
            }
        })
    }

    fn expand_in(&mut self, text: &str, group: &str) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find(['$', '\\']) {
            out.push_str(&rest[..at]);
            let tail = &rest[at..];
            if let Some(after) = tail.strip_prefix("\\$").or_else(|| tail.strip_prefix("$$")) {
                out.push('$');
                rest = after;
                continue;
            }
            if let Some(after) = tail.strip_prefix('\\') {
                out.push('\\');
                rest = after;
                continue;
            }
            let (name, after) = match reference(&tail[1..]) {
                Some(found) => found,
                None => {
                    out.push('$');
                    rest = &tail[1..];
                    continue;
                }
            };
            out.push_str(&self.value_of(name, group)?);
            rest = after;
        }
        out.push_str(rest);
        Ok(out)
    }

    /// The substituted value `name` stands for, seen from `group`.
    fn value_of(&mut self, name: &str, group: &str) -> Result<String, String> {
        let target = match name.split_once('.') {
            Some((other, option)) => (normalize_group(other), normalize_option(option)),
            None => {
                let option = normalize_option(name);
                if self.known(group, &option) {
                    (group.to_owned(), option)
                } else {
                    (super::DEFAULT_GROUP.to_owned(), option)
                }
            }
        };
        if let Some(position) = self.stack.iter().position(|key| *key == target) {
            let chain: Vec<String> = self.stack[position..]
                .iter()
                .chain([&target])
                .map(|(group, option)| format!("{group}.{option}"))
                .collect();
            return Err(format!(
                "${name} leads back to the option itself ({})",
                chain.join(" -> ")
            ));
        }
        if let Some(done) = self.done.get(&target) {
            return Ok(done.clone());
        }
        let (target_group, target_option) = (target.0.as_str(), target.1.as_str());
        let spec = (self.declared)(target_group, target_option);
        let raw = match spec {
            Some(spec) => values_found(self.snapshot, spec, false).last(),
            None => self.snapshot.raw(target_group, target_option),
        };
        let text = match (raw, spec) {
            (Some(raw), _) => raw.text.clone(),
            (None, Some(spec)) => spec.default_text().unwrap_or_default(),
            (None, None) => {
                return Err(format!(
                    "${name} refers to {target_group}.{target_option}, which is set nowhere"
                ));
            }
        };
        let target_owned = (target_group.to_owned(), target_option.to_owned());
        let expanded = self
            .expand(&text, target_group, (target_group, target_option))
            .map_err(|inner| format!("${name}: {inner}"))?;
        self.done.insert(target_owned, expanded.clone());
        Ok(expanded)
    }

    /// Whether `group` has option `option`: set there, or declared there.
    fn known(&self, group: &str, option: &str) -> bool {
        self.snapshot.raw(group, option).is_some() || (self.declared)(group, option).is_some()
    }
}

/// The name after a `$`, as oslo.config's template reads it: `{name}` or a name of
/// letters, digits, `_` and `.` that does not start with a digit or `.`; and the text
/// after it. `None` when no name follows.
fn reference(text: &str) -> Option<(&str, &str)> {
    let is_name = |name: &str| {
        name.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    };
    if let Some(braced) = text.strip_prefix('{') {
        let close = braced.find('}')?;
        let name = &braced[..close];
        return is_name(name).then(|| (name, &braced[close + 1..]));
    }
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(text.len());
    let name = &text[..end];
    is_name(name).then(|| (name, &text[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn substituted(ini: &str) -> Result<Snapshot, String> {
        let snapshot = Snapshot::from_ini(ini, Some(Path::new("/etc/svc.conf"))).unwrap();
        let secret = |_: &str, option: &str, _: &str| option.contains("password");
        let (snapshot, errors) = apply(snapshot, &|_, _| None, &[], &secret);
        match ConfigError::all(errors) {
            Ok(()) => Ok(snapshot),
            Err(err) => Err(err.to_string()),
        }
    }

    fn value(snapshot: &Snapshot, group: &str, option: &str) -> String {
        snapshot.raw(group, option).unwrap().text.clone()
    }

    #[test]
    fn references_in_the_group_then_default_and_across_groups() {
        let s = substituted(
            "[DEFAULT]\nstate_path = /var/lib/svc\nhost = h1\n\
             [api]\nhost = h2\nlock = $state_path/lock\nme = $host and ${DEFAULT.host}\n\
             url = http://${api.host}:${port}/x\nport = 80\n",
        )
        .unwrap();
        assert_eq!(value(&s, "api", "lock"), "/var/lib/svc/lock");
        assert_eq!(value(&s, "api", "me"), "h2 and h1");
        assert_eq!(value(&s, "api", "url"), "http://h2:80/x");
    }

    #[test]
    fn literal_dollars_and_names_that_are_none() {
        let s =
            substituted("[g]\na = cost $$5 and \\$6\nb = 100$ or $ 5 or ${}\nc = $a!\n").unwrap();
        assert_eq!(value(&s, "g", "a"), "cost $5 and $6");
        assert_eq!(value(&s, "g", "b"), "100$ or $ 5 or ${}");
        assert_eq!(value(&s, "g", "c"), "cost $5 and $6!");
    }

    #[test]
    fn a_reference_set_nowhere_and_a_cycle_are_errors_naming_where() {
        assert_eq!(
            substituted("[g]\n\na = at $nope\n").unwrap_err(),
            "/etc/svc.conf:3: invalid value 'at $nope' for option a in group [g]: $nope refers to DEFAULT.nope, which is set nowhere"
        );
        let cycle = substituted("[g]\na = $b\nb = ${g.c}\nc = $a\n").unwrap_err();
        assert!(
            cycle.starts_with("/etc/svc.conf:2: invalid value '$b' for option a in group [g]"),
            "{cycle}"
        );
        assert!(cycle.contains("(g.a -> g.b -> g.c -> g.a)"), "{cycle}");
    }

    #[test]
    fn every_reference_that_does_not_resolve_is_an_error() {
        let errors = substituted("[g]\na = $nope\nb = fine\n[h]\nc = ${g.none}\n").unwrap_err();
        let lines: Vec<&str> = errors.lines().collect();
        assert_eq!(lines.len(), 2, "{errors}");
        assert!(
            lines[0].starts_with("/etc/svc.conf:2: invalid value '$nope'"),
            "{errors}"
        );
        assert!(
            lines[1].starts_with("/etc/svc.conf:5: invalid value '${g.none}'"),
            "{errors}"
        );
    }

    #[test]
    fn a_secret_that_does_not_resolve_names_its_option_and_the_escape_only() {
        // Itself, and seen through a reference from another option.
        let errors = substituted("[db]\npassword = Sup3r$ecret\n[app]\nurl = x?k=${db.password}\n")
            .unwrap_err();
        for line in errors.lines() {
            let (_, reason) = line.split_once("]: ").unwrap();
            assert!(
                !reason.contains("$ecret") && !reason.contains("Sup3r"),
                "{errors}"
            );
        }
        assert_eq!(
            errors
                .matches("a `$` in db.password, a secret (not shown)")
                .count(),
            2,
            "{errors}"
        );
        assert!(errors.contains("written `$$`"), "{errors}");
    }
}
