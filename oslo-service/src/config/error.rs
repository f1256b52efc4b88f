//! Errors found while reading the command line and the configuration files.

use std::path::PathBuf;

/// A configuration that cannot be used. Each variant names where the problem is, so the
/// message alone lets an operator fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The command line could not be understood.
    #[error("{0}")]
    CommandLine(String),

    /// A configuration file or directory could not be read.
    #[error("cannot read {path}: {error}")]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        error: std::io::Error,
    },

    /// A line of a configuration file breaks the INI rules.
    #[error("{file}:{line}: {message}")]
    Syntax {
        /// The file.
        file: PathBuf,
        /// The line (1-based).
        line: usize,
        /// What is wrong with it.
        message: String,
    },

    /// A value does not parse as its option's type, or is out of its bounds.
    #[error(transparent)]
    InvalidValue(Box<InvalidValue>),

    /// A file other than INI (TOML) could not be read into options.
    #[error("{file}: {message}")]
    Format {
        /// The file.
        file: PathBuf,
        /// What is wrong with it, as the format's parser says.
        message: String,
    },

    /// A group of options read through `Config::group` that the program did not
    /// register, so that no start checked it.
    #[error(
        "options group [{group}] (`{type_name}`) is not registered, so it was not checked at start: add it to `#[oslo::main(options = [{type_name}])]` (or to the groups given to `Config::load_with`)"
    )]
    Unregistered {
        /// The group.
        group: String,
        /// The Rust type that declares it, as its source names it.
        type_name: String,
    },

    /// With `fatal_unknown_options`: groups or options that no declaration knows.
    #[error("{0} (fatal_unknown_options is set)")]
    Unknown(String),

    /// A required option has no value.
    #[error("missing value for required option {option} in group [{group}]")]
    MissingRequired {
        /// The group.
        group: String,
        /// The option.
        option: String,
    },

    /// A declared default does not parse as its option's type (only possible for types
    /// of the user's, whose defaults cannot be checked at compile time).
    #[error("invalid default '{value}' for option {option} in group [{group}]: {reason}")]
    InvalidDefault {
        /// The group.
        group: String,
        /// The option.
        option: String,
        /// The default as declared.
        value: String,
        /// Why it was refused.
        reason: String,
    },

    /// A group could not be read into the type asked for ([`Config::extract`]).
    ///
    /// [`Config::extract`]: super::Config::extract
    #[error("cannot read group [{group}]: {message}")]
    Extract {
        /// The group.
        group: String,
        /// What did not fit.
        message: String,
    },

    /// The options of a group do not make sense together, or what they name cannot be
    /// used (TLS files that do not load, for instance).
    #[error("invalid options in group [{group}]: {message}")]
    Inconsistent {
        /// The group.
        group: String,
        /// What is wrong.
        message: String,
    },

    /// A server that follows its address in the configuration cannot listen where a
    /// reload moves it: the reload is refused, and the old address serves on.
    #[error("server {server} cannot listen on {address}: {reason}")]
    Listen {
        /// The server (its shared socket's name).
        server: String,
        /// The address the configuration gives.
        address: String,
        /// Why it cannot be bound.
        reason: String,
    },

    /// `--namespace` names no registered namespace.
    #[error("unknown namespace {0}; known namespaces: {1}")]
    UnknownNamespace(String, String),

    /// Several of the errors above, one a line: every bad value of a configuration is
    /// said at once, so that one start (or one `--check-config`) names them all.
    #[error("{}", one_a_line(.0))]
    Several(Vec<ConfigError>),
}

fn one_a_line(errors: &[ConfigError]) -> String {
    let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
    lines.join("\n")
}

impl ConfigError {
    /// `Unregistered` for the group `T` declares.
    pub(crate) fn unregistered<T: super::OptionGroup>() -> Self {
        let path = std::any::type_name::<T>();
        // `crate::module::Type<Args>`: the type's own name, as the source spells it.
        let bare = path.split('<').next().unwrap_or(path);
        let name = bare.rsplit("::").next().unwrap_or(bare);
        ConfigError::Unregistered {
            group: T::GROUP.to_owned(),
            type_name: name.to_owned(),
        }
    }

    /// The errors of `errors`: none is no error, one is itself, more are `Several`.
    pub(crate) fn all(errors: Vec<ConfigError>) -> Result<(), ConfigError> {
        let mut flat: Vec<ConfigError> = errors.into_iter().flat_map(Self::into_each).collect();
        match flat.len() {
            0 => Ok(()),
            1 => Err(flat.remove(0)),
            _ => Err(ConfigError::Several(flat)),
        }
    }

    /// Each error this one holds: those of `Several`, else itself.
    pub(crate) fn each(&self) -> impl Iterator<Item = &ConfigError> {
        match self {
            ConfigError::Several(errors) => errors.iter(),
            one => std::slice::from_ref(one).iter(),
        }
    }

    /// [`ConfigError::each`], owned.
    pub(crate) fn into_each(self) -> Vec<ConfigError> {
        match self {
            ConfigError::Several(errors) => errors.into_iter().flat_map(Self::into_each).collect(),
            one => vec![one],
        }
    }

    /// The error on one line (`Several` joined with `; `): for a log line, systemd's
    /// `STATUS=` and the console, which a line break would cut.
    pub(crate) fn one_line(&self) -> String {
        let lines: Vec<String> = self.each().map(ToString::to_string).collect();
        lines.join("; ")
    }

    /// The group and option a bad value belongs to, when the error is about one.
    pub(crate) fn option(&self) -> Option<(&str, &str)> {
        match self {
            ConfigError::InvalidValue(invalid) => Some((&invalid.group, &invalid.option)),
            ConfigError::MissingRequired { group, option } => Some((group, option)),
            _ => None,
        }
    }

    /// Where the error's value was written, for errors said in the order of the files:
    /// errors with no place come last.
    pub(crate) fn place(&self) -> (bool, Option<&std::path::Path>, usize) {
        match self {
            ConfigError::InvalidValue(invalid) if invalid.file.is_some() => {
                (false, invalid.file.as_deref(), invalid.line)
            }
            ConfigError::Syntax { file, line, .. } => (false, Some(file), *line),
            _ => (true, None, 0),
        }
    }

    /// The error with the value it shows passed through `show(group, option, value)`,
    /// which masks what is secret; the reason loses any copy of the hidden text too.
    pub(crate) fn masked(self, show: impl Fn(&str, &str, &str) -> String) -> Self {
        self.masked_by(&show)
    }

    fn masked_by(self, show: &dyn Fn(&str, &str, &str) -> String) -> Self {
        match self {
            ConfigError::InvalidValue(mut invalid) => {
                let shown = show(&invalid.group, &invalid.option, &invalid.value);
                if shown != invalid.value {
                    if !invalid.value.is_empty() {
                        invalid.reason = invalid.reason.replace(&invalid.value, &shown);
                    }
                    invalid.value = shown;
                }
                ConfigError::InvalidValue(invalid)
            }
            ConfigError::Several(errors) => {
                ConfigError::Several(errors.into_iter().map(|err| err.masked_by(show)).collect())
            }
            other => other,
        }
    }
}

/// A value that does not parse as its option's type, with where it was written.
#[derive(Debug, thiserror::Error)]
#[error(
    "{}invalid value '{value}' for option {option} in group [{group}]: {reason}",
    origin_prefix(file, *line)
)]
pub struct InvalidValue {
    /// The file the value came from, if it came from a file.
    pub file: Option<PathBuf>,
    /// The line the value is on; 0 when the format does not say (TOML, environment).
    pub line: usize,
    /// The group (INI section).
    pub group: String,
    /// The option.
    pub option: String,
    /// The value as written.
    pub value: String,
    /// Why it was refused.
    pub reason: String,
}

impl InvalidValue {
    /// The error for `value` of `[group] option`, with the file and line the snapshot
    /// says it came from: for checks made after loading (a log format, a TLS file).
    pub(crate) fn in_snapshot(
        snapshot: &super::Snapshot,
        group: &str,
        option: &str,
        value: &str,
        reason: String,
    ) -> ConfigError {
        let raw = snapshot.raw(group, option);
        ConfigError::InvalidValue(Box::new(InvalidValue {
            file: raw
                .and_then(|raw| raw.file.as_deref())
                .map(|path| path.to_owned()),
            line: raw.map_or(0, |raw| raw.line),
            group: group.to_owned(),
            option: option.to_owned(),
            value: value.to_owned(),
            reason,
        }))
        .masked(shown_by_name)
    }
}

/// What an error may show of a value when only the option's name is known: nothing of a
/// secret, nothing of a URL that does not read as one, the rest with its credentials
/// masked.
pub(crate) fn shown_by_name(_group: &str, option: &str, text: &str) -> String {
    super::mask::Masker::default()
        .show_in_error(super::mask::name_is_secret(option), text)
        .into_owned()
}

fn origin_prefix(file: &Option<PathBuf>, line: usize) -> String {
    match file {
        Some(file) if line > 0 => format!("{}:{line}: ", file.display()),
        Some(file) => format!("{}: ", file.display()),
        None => String::new(),
    }
}
