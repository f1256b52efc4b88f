//! The sample configuration file, as `oslo-config-generator` writes it: every option
//! commented out with its help, type, bounds, choices, deprecated names and default,
//! grouped by section and, within a section, by namespace.

use std::fmt::Write as _;

use super::spec::{GroupInfo, OptionSpec};
use super::{ConfigError, DEFAULT_GROUP};

/// Width the help text is wrapped at, as oslo-config-generator does.
const WIDTH: usize = 70;

/// The sample file for the runtime's groups and `groups`, limited to `namespaces` when
/// any are given (an unknown namespace is an error). `[DEFAULT]` comes first, then the
/// other sections by name.
///
/// ```
/// let sample = oslo::config::generate_sample(&[], &["oslo.service.service".to_owned()])?;
/// assert!(sample.starts_with("[DEFAULT]\n"));
/// assert!(sample.contains("#graceful_shutdown_timeout = 60\n"));
/// # Ok::<(), oslo::config::ConfigError>(())
/// ```
pub fn generate_sample(groups: &[GroupInfo], namespaces: &[String]) -> Result<String, ConfigError> {
    let groups = &super::with_runtime_groups(groups)[..];
    for namespace in namespaces {
        if !groups.iter().any(|info| info.namespace == namespace) {
            let mut known: Vec<&str> = groups.iter().map(|info| info.namespace).collect();
            known.dedup();
            return Err(ConfigError::UnknownNamespace(
                namespace.clone(),
                known.join(", "),
            ));
        }
    }
    let chosen: Vec<&GroupInfo> = groups
        .iter()
        .filter(|info| namespaces.is_empty() || namespaces.iter().any(|n| n == info.namespace))
        .collect();
    let mut sections: Vec<&str> = chosen.iter().map(|info| info.group).collect();
    sections.sort_by_key(|group| (*group != DEFAULT_GROUP, *group));
    sections.dedup();
    // DEFAULT is always there, as in oslo-config-generator's output.
    if sections.first() != Some(&DEFAULT_GROUP) {
        sections.insert(0, DEFAULT_GROUP);
    }

    // The defaults as the program sees them when no file sets anything: a default that
    // refers to another option is shown as written (as oslo-config-generator does) and,
    // beside it, as it comes out.
    // A default whose references do not resolve has no line of what it comes to.
    let seen = super::prepared(super::Snapshot::default(), groups).0;
    let mut out = String::new();
    for (index, section) in sections.iter().enumerate() {
        if index > 0 {
            out.push('\n');
        }
        let _ = writeln!(out, "[{section}]");
        let mut namespaces_here: Vec<&str> = Vec::new();
        for info in chosen.iter().filter(|info| info.group == *section) {
            if !namespaces_here.contains(&info.namespace) {
                namespaces_here.push(info.namespace);
            }
        }
        for namespace in namespaces_here {
            let _ = write!(out, "\n#\n# From {namespace}\n#\n");
            for info in chosen
                .iter()
                .filter(|info| info.group == *section && info.namespace == namespace)
            {
                for spec in (info.options)() {
                    out.push('\n');
                    let substituted = substituted_default(&seen, spec);
                    let choices: Vec<_> = info.choices_of(spec).collect();
                    write_option(&mut out, spec, substituted.as_deref(), &choices);
                }
            }
        }
    }
    Ok(out)
}

/// The default of `spec` after substitution, when it refers to another option.
fn substituted_default(seen: &super::Snapshot, spec: &OptionSpec) -> Option<String> {
    if !spec.default.iter().any(|text| text.contains('$')) {
        return None;
    }
    super::report::joined(super::typed::values_found(seen, spec, false))
}

fn write_option(
    out: &mut String,
    spec: &OptionSpec,
    substituted: Option<&str>,
    choices: &[(&str, &str)],
) {
    let mut help = spec.help.replace('\n', "\n\n");
    if help.is_empty() {
        help = "(no help given)".to_owned();
    }
    // oslo-config-generator's words: "(integer value)", but "(multi valued)".
    let described = match spec.type_name {
        "multi valued" => format!("{help} (multi valued)"),
        type_name => format!("{help} ({type_name} value)"),
    };
    for (index, paragraph) in described.split("\n\n").enumerate() {
        if index > 0 {
            out.push_str("#\n");
        }
        for line in wrap(paragraph) {
            let _ = writeln!(out, "# {line}");
        }
    }
    if !choices.is_empty() {
        out.push_str("# Possible values:\n");
        for (choice, help) in choices {
            // As oslo-config-generator: one paragraph, wrapped as the help is.
            let help = if help.trim().is_empty() {
                "<No description provided>"
            } else {
                help
            };
            for line in wrap(&format!("{choice} - {help}")) {
                let _ = writeln!(out, "# {line}");
            }
        }
    }
    if let Some(min) = &spec.min {
        let _ = writeln!(out, "# Minimum value: {min}");
    }
    if let Some(max) = &spec.max {
        let _ = writeln!(out, "# Maximum value: {max}");
    }
    for old in spec.deprecated {
        let _ = writeln!(
            out,
            "# Deprecated group/name - [{}]/{}",
            old.group.unwrap_or(spec.group),
            old.name.unwrap_or(spec.name)
        );
    }
    if spec.mutable {
        out.push_str("# Note: This option can be changed without restarting.\n");
    }
    if spec.required {
        out.push_str("# This option is required.\n");
    }
    if spec.secret {
        out.push_str("# This option is secret: its value is not logged.\n");
    }
    if let Some(value) = substituted.filter(|_| !spec.secret) {
        let _ = writeln!(
            out,
            "# With the defaults of the options it refers to: {value}"
        );
    }
    match spec.default {
        [] => {
            let _ = writeln!(out, "#{} = <None>", spec.name);
        }
        values => {
            for value in values {
                let value = if value.is_empty() { "" } else { *value };
                let _ = writeln!(out, "#{} = {}", spec.name, value).map(drop);
            }
        }
    }
}

/// Words of `text` in lines of at most [`WIDTH`] columns (a longer word stands alone).
fn wrap(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > WIDTH {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{GroupInfo, OptionGroup, Snapshot};
    use std::time::Duration;

    /// Options of a test group.
    #[crate::options(group = "sample", namespace = "test.sample", crate = "crate")]
    #[derive(Debug, PartialEq)]
    struct SampleOpts {
        /// How long to wait between two polls of the upstream endpoints, which is a
        /// long sentence so that the help wraps over more than one line.
        #[opt(
            default = "30s",
            mutable,
            deprecated_name = "poll_interval",
            deprecated_group = "DEFAULT"
        )]
        interval: Duration,
        /// Upstream endpoints.
        #[opt(default = ["http://a:1", "http://b:2"])]
        endpoints: Vec<String>,
        /// Port to listen on.
        #[opt(default = 8080, min = 1024)]
        port: crate::config::Port,
        /// Mode.
        #[opt(default = "fast", choices = ["fast", "safe"])]
        mode: String,
        /// Labels.
        #[opt(default = "a:1,b:2")]
        labels: std::collections::BTreeMap<String, String>,
        /// Extra lines.
        #[opt(multi, default = ["one, two", "three"])]
        extra: Vec<String>,
        /// Password.
        #[opt(secret)]
        password: Option<String>,
        /// Ratio.
        #[opt(default = 0.5, min = 0.0, max = 1.0)]
        ratio: f64,
        /// Where state goes.
        #[opt(default = "$mode/state and ${sample.port}")]
        state: String,
    }

    fn groups() -> Vec<GroupInfo> {
        vec![GroupInfo::of::<SampleOpts>()]
    }

    #[test]
    fn looks_like_oslo_config_generator_output() {
        let sample = generate_sample(&groups(), &["test.sample".to_owned()]).unwrap();
        let expected_start = "[DEFAULT]\n\n[sample]\n\n#\n# From test.sample\n#\n\n\
            # How long to wait between two polls of the upstream endpoints, which is\n\
            # a long sentence so that the help wraps over more than one line.\n\
            # (duration value)\n\
            # Deprecated group/name - [DEFAULT]/poll_interval\n\
            # Note: This option can be changed without restarting.\n\
            #interval = 30s\n";
        assert!(sample.starts_with(expected_start), "{sample}");
        assert!(
            sample.contains("# Minimum value: 1024\n# Maximum value: 65535\n#port = 8080\n"),
            "{sample}"
        );
        assert!(
            sample.contains("# Possible values:\n# fast - <No description provided>\n"),
            "{sample}"
        );
        assert!(
            sample.contains("# Extra lines. (multi valued)\n#extra = one, two\n#extra = three\n"),
            "{sample}"
        );
        assert!(sample.contains("#password = <None>\n"), "{sample}");
        assert!(sample.contains("# Maximum value: 1.0\n"), "{sample}");
        assert!(
            sample.contains(
                "# With the defaults of the options it refers to: fast/state and 8080\n\
                 #state = $mode/state and ${sample.port}\n"
            ),
            "{sample}"
        );
    }

    #[test]
    fn every_namespace_by_default_and_unknown_ones_refused() {
        let sample = generate_sample(&groups(), &[]).unwrap();
        for namespace in [
            "oslo.service.service",
            "oslo.service.periodic_task",
            "oslo.service.wsgi",
            "oslo.service.sslutils",
            "oslo.log",
            "test.sample",
        ] {
            assert!(
                sample.contains(&format!("# From {namespace}\n")),
                "{namespace}"
            );
        }
        assert!(sample.contains("\n[ssl]\n"));
        let err = generate_sample(&groups(), &["nope".to_owned()]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("unknown namespace nope; known namespaces: oslo.service.service"),
            "{err}"
        );
    }

    /// Uncommenting every `#name = value` line gives a file whose values are the
    /// defaults.
    #[test]
    fn the_sample_parses_back_to_the_defaults() {
        let sample = generate_sample(&groups(), &[]).unwrap();
        let uncommented: String = sample
            .lines()
            .map(|line| match line.strip_prefix('#') {
                Some(rest)
                    if !rest.starts_with(' ')
                        && !rest.is_empty()
                        && !rest.ends_with("= <None>") =>
                {
                    rest.to_owned()
                }
                _ => line.to_owned(),
            })
            .map(|line| line + "\n")
            .collect();
        let snapshot = Snapshot::from_ini(&uncommented, None).unwrap();
        let empty = Snapshot::default();
        assert_eq!(
            SampleOpts::from_snapshot(&snapshot).unwrap(),
            SampleOpts::from_snapshot(&empty).unwrap()
        );
        assert!(snapshot.raw("sample", "interval").is_some());
        use crate::config::{LogOptions, ServiceOptions, WsgiOptions};
        assert_eq!(
            WsgiOptions::from_snapshot(&snapshot).unwrap(),
            WsgiOptions::from_snapshot(&empty).unwrap()
        );
        assert_eq!(
            ServiceOptions::from_snapshot(&snapshot).unwrap(),
            ServiceOptions::from_snapshot(&empty).unwrap()
        );
        assert_eq!(
            LogOptions::from_snapshot(&snapshot).unwrap(),
            LogOptions::from_snapshot(&empty).unwrap()
        );
        assert_eq!(
            snapshot
                .raw("DEFAULT", "graceful_shutdown_timeout")
                .unwrap()
                .text,
            "60"
        );
    }
}
