//! `--check-config`: the configuration a start would read, checked as a start would
//! check it, without starting anything (nothing bound, opened or connected): every
//! declared group (types, bounds, choices, substitution), the runtime's own options
//! that are checked at start (the console's address, the HTTP server's options and TLS
//! files, `[coordination]`, `[metrics]`, the logging options), and the options no declaration
//! knows, as warnings; the workers' user and group are looked up. Every error is said,
//! each on its own line with its file and line:
//! the bad values of every group, then what the runtime's checks find in the groups that
//! read. What a program checks in its own `main` is not run.

use std::process::ExitCode;

use crate::config::{Config, ConfigError, ConfigSources, GroupInfo};

/// Checks the configuration of `sources` for a program with `groups`; prints what is
/// wrong (exit 1) or that it is fine (exit 0).
pub(super) fn run(program: &str, sources: ConfigSources, groups: &[GroupInfo]) -> ExitCode {
    let files = sources.paths().unwrap_or_default();
    let (conf, mut found) = match Config::load_checking(sources, groups) {
        Ok(loaded) => loaded,
        Err(err) => {
            for err in err.each() {
                eprintln!("{program}: {err}");
            }
            return ExitCode::FAILURE;
        }
    };
    // A runtime check reads the groups it needs: one that is bad is already said.
    let said: Vec<(String, String)> = found
        .iter()
        .filter_map(ConfigError::option)
        .map(|(group, option)| (group.to_owned(), option.to_owned()))
        .collect();
    for err in checks(&conf).into_iter().filter_map(Result::err) {
        for err in conf.masked_error(err).into_each() {
            let known = err.option().is_some_and(|(group, option)| {
                said.iter()
                    .any(|(g, o)| g.as_str() == group && o.as_str() == option)
            });
            if !known {
                found.push(err);
            }
        }
    }
    let mut errors: Vec<String> = Vec::new();
    for err in found.iter().flat_map(ConfigError::each) {
        let text = err.to_string();
        if !errors.contains(&text) {
            errors.push(text);
        }
    }
    for unknown in conf.unknown() {
        eprintln!("{program}: warning: {}", unknown.describe());
    }
    for error in &errors {
        eprintln!("{program}: {error}");
    }
    if !errors.is_empty() {
        return ExitCode::FAILURE;
    }
    let shown: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    println!(
        "{program}: configuration OK ({} file{}: {})",
        shown.len(),
        if shown.len() == 1 { "" } else { "s" },
        if shown.is_empty() {
            "none".to_owned()
        } else {
            shown.join(", ")
        }
    );
    ExitCode::SUCCESS
}

/// Every check a start makes of the runtime's own options, each on its own.
fn checks(conf: &Config) -> Vec<Result<(), ConfigError>> {
    vec![
        crate::backdoor::check(conf),
        #[cfg(feature = "http")]
        crate::wsgi::check(conf),
        crate::coordination::check(conf),
        crate::metrics::check(conf),
        crate::otel::check(conf),
        crate::privileges::check(conf),
        crate::log::check(conf).map_err(|err| match err {
            crate::Error::Config(err) => err,
            other => ConfigError::CommandLine(other.to_string()),
        }),
    ]
}
