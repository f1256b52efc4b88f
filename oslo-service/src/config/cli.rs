//! The command line every service accepts, parsed with clap: `--config-file` and
//! `--config-dir` as oslo.config offers them, `--generate-config` (and `--namespace`),
//! `--version`, `--pid-file`, the flags of `#[opt(cli)]` options, and a program's own clap command
//! joined to them.

use std::ffi::OsString;
use std::path::PathBuf;

use super::spec::{GroupInfo, OptionSpec, OptionType};
use super::{ConfigError, ConfigSources, ENV_PREFIX};

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Invocation {
    /// Run the service with this command line.
    Run(CommandLine),
    /// Print this help text and exit successfully.
    Help(String),
    /// `--version`: print the program's version and exit successfully.
    Version,
    /// `--generate-config`: print the sample configuration file of the options in these
    /// namespaces (`--namespace`, repeatable; all when none) and exit.
    GenerateConfig {
        /// The namespaces asked for.
        namespaces: Vec<String>,
    },
    /// `--check-config`: read the configuration of this command line as a start would,
    /// check it, say what is wrong, and exit.
    CheckConfig(CommandLine),
    /// `--upgrade PID`: ask the running top process `PID` for a binary upgrade, wait
    /// until it is over, and exit 0 once the new executable is ready and the old one
    /// gone, 1 (with the reason) when it failed.
    Upgrade {
        /// The top process to upgrade.
        pid: u32,
    },
}

/// A command line that asks to run the service.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommandLine {
    /// The configuration files and directories named.
    pub sources: ConfigSources,
    /// `--pid-file`: where the top process writes its pid.
    pub pid_file: Option<PathBuf>,
}

impl CommandLine {
    /// Where oslo.config looks when the command line names nothing: without
    /// `--config-file`, the first `<project>.conf` and `<program>.conf` found in
    /// `~/.<project>/`, `~/`, `/etc/<project>/`, `/etc/`; without `--config-dir`, the
    /// first `<project>.conf.d/` and `<program>.conf.d/` found there.
    pub fn or_search(self, project: &str, program: &str) -> Self {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        self.or_search_in(
            project,
            program,
            home.as_deref(),
            std::path::Path::new("/etc"),
        )
    }

    pub(crate) fn or_search_in(
        mut self,
        project: &str,
        program: &str,
        home: Option<&std::path::Path>,
        etc: &std::path::Path,
    ) -> Self {
        let places = super::search::places(project, home, etc);
        let names = [project, program];
        if self.sources.files.is_empty() {
            self.sources.files = super::search::find(&names, ".conf", &places, false);
        }
        if self.sources.dirs.is_empty() {
            self.sources.dirs = super::search::find(&names, ".conf.d", &places, true);
        }
        self
    }
}

impl Invocation {
    /// Parses the arguments after the program name; `program` appears in the help text.
    #[cfg(test)]
    pub fn parse<I>(program: &str, args: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator,
        I::Item: Into<OsString>,
    {
        Self::parse_with(program, args, &[])
    }

    /// Like [`Invocation::parse`], with the flags of the options of `groups` (and of the
    /// runtime's) declared `#[opt(cli)]`: `--name VALUE` (`--group-name` outside
    /// `[DEFAULT]`), or `--name` / `--noname` for a bool; a flag wins over the files
    /// (`--api-port 9000` sets `port` of `[api]`).
    pub fn parse_with<I>(program: &str, args: I, groups: &[GroupInfo]) -> Result<Self, ConfigError>
    where
        I: IntoIterator,
        I::Item: Into<OsString>,
    {
        let specs = cli_specs(groups);
        let command = with_service_args(clap::Command::new(program.to_owned()), &specs);
        let args = std::iter::once(OsString::from(program)).chain(args.into_iter().map(Into::into));
        Self::from_matches(command.try_get_matches_from(args), &specs)
            .map(|(invocation, _)| invocation)
    }

    /// Parses the command line with `command` (a program's own clap command: its flags and
    /// sub-commands) joined to the service's; returns the matches too, for the program to
    /// read its own from.
    pub(crate) fn parse_joined<I>(
        command: clap::Command,
        args: I,
        groups: &[GroupInfo],
    ) -> Result<(Self, clap::ArgMatches), ConfigError>
    where
        I: IntoIterator,
        I::Item: Into<OsString>,
    {
        let specs = cli_specs(groups);
        // `--generate-config` and `--version` need no sub-command of the program's; a run
        // without the one it requires is refused when its arguments are read. The usage
        // still says that a run needs one.
        let required = command.is_subcommand_required_set();
        let mut command = with_service_args(command, &specs)
            .subcommand_required(false)
            .arg_required_else_help(false);
        if required {
            let usage = command.render_usage().to_string();
            let usage = usage.trim_start_matches("Usage:").trim();
            let program = usage
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
            command = command.override_usage(format!(
                "{}\n       {program} [OPTIONS] --check-config | --generate-config | --version",
                usage.replace("[COMMAND]", "<COMMAND>")
            ));
        }
        let args = args.into_iter().map(Into::into);
        Self::from_matches(command.try_get_matches_from(args), &specs)
    }

    fn from_matches(
        matches: Result<clap::ArgMatches, clap::Error>,
        specs: &[&'static OptionSpec],
    ) -> Result<(Self, clap::ArgMatches), ConfigError> {
        let matches = match matches {
            Ok(matches) => matches,
            Err(err) => {
                return match err.kind() {
                    clap::error::ErrorKind::DisplayHelp => Ok((
                        Invocation::Help(err.render().to_string()),
                        Default::default(),
                    )),
                    clap::error::ErrorKind::DisplayVersion => {
                        Ok((Invocation::Version, Default::default()))
                    }
                    _ => Err(ConfigError::CommandLine(err.render().to_string())),
                };
            }
        };
        if matches.get_flag(VERSION) {
            return Ok((Invocation::Version, matches));
        }
        let many = |id: &str| -> Vec<String> {
            matches
                .get_many::<String>(id)
                .map(|values| values.cloned().collect())
                .unwrap_or_default()
        };
        if let Some(&pid) = matches.get_one::<u32>(UPGRADE) {
            return Ok((Invocation::Upgrade { pid }, matches));
        }
        if matches.get_flag(GENERATE) {
            return Ok((
                Invocation::GenerateConfig {
                    namespaces: many(NAMESPACE),
                },
                matches,
            ));
        }
        let mut line = CommandLine::default();
        line.sources.env_prefix = Some(ENV_PREFIX.to_owned());
        line.sources.files = many(CONFIG_FILE).into_iter().map(PathBuf::from).collect();
        line.sources.dirs = many(CONFIG_DIR).into_iter().map(PathBuf::from).collect();
        line.pid_file = matches.get_one::<PathBuf>(PID_FILE).cloned();
        for spec in specs {
            let id = spec.flag();
            let values: Vec<(usize, String)> = if spec.kind == OptionType::Boolean {
                // A flag's own default (not given) is no value of the option's.
                let at = |id: &str, text: &str| {
                    let given =
                        matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine);
                    matches
                        .indices_of(id)
                        .into_iter()
                        .flatten()
                        .filter(|_| given)
                        .map(|index| (index, text.to_owned()))
                        .collect::<Vec<_>>()
                };
                let mut both = at(&id, "true");
                both.extend(at(&negation(&id), "false"));
                both.sort();
                both
            } else {
                matches
                    .indices_of(&id)
                    .into_iter()
                    .flatten()
                    .zip(many(&id))
                    .collect()
            };
            for (_, text) in values {
                line.sources
                    .cli
                    .push((spec.group.to_owned(), spec.name.to_owned(), text));
            }
        }
        if matches.get_flag(CHECK) {
            return Ok((Invocation::CheckConfig(line), matches));
        }
        Ok((Invocation::Run(line), matches))
    }
}

const CONFIG_FILE: &str = "config-file";
const CONFIG_DIR: &str = "config-dir";
const PID_FILE: &str = "pid-file";
const GENERATE: &str = "generate-config";
const CHECK: &str = "check-config";
const NAMESPACE: &str = "namespace";
const UPGRADE: &str = "upgrade";
const VERSION: &str = "version";

/// The options of `groups` (and the runtime's) that are command-line flags.
fn cli_specs(groups: &[GroupInfo]) -> Vec<&'static OptionSpec> {
    super::with_runtime_groups(groups)
        .iter()
        .flat_map(|info| (info.options)().iter())
        .filter(|spec| spec.cli)
        .collect()
}

/// `--noname` for `--name`.
fn negation(flag: &str) -> String {
    format!("--no{}", &flag[2..])
}

/// `command` with the service's flags added: the configuration's, the sample generator's,
/// `--version`, and those of `#[opt(cli)]` options.
fn with_service_args(command: clap::Command, specs: &[&'static OptionSpec]) -> clap::Command {
    use clap::{Arg, ArgAction};

    let long = |flag: &str| flag[2..].to_owned();
    let mut command = command
        .disable_version_flag(true)
        .arg(
            Arg::new(CONFIG_FILE)
                .long(CONFIG_FILE)
                .value_name("PATH")
                .action(ArgAction::Append)
                .help("Path to a config file to use; may be given several times, and values in later files win"),
        )
        .arg(
            Arg::new(CONFIG_DIR)
                .long(CONFIG_DIR)
                .value_name("DIR")
                .action(ArgAction::Append)
                .help("Path to a directory of *.conf files, read in sorted order after the files given with --config-file"),
        )
        .arg(
            Arg::new(PID_FILE)
                .long(PID_FILE)
                .value_name("PATH")
                .value_parser(clap::value_parser!(PathBuf))
                .action(ArgAction::Set)
                .help("Write the pid of the top process (never a worker's) to this file once the configuration is read, and remove it at exit; never through a symbolic link. At a binary upgrade (SIGUSR2) the new process writes its own once ready, and the old one's goes to PATH.oldbin until it exits"),
        )
        .arg(
            Arg::new(GENERATE)
                .long(GENERATE)
                .action(ArgAction::SetTrue)
                .help("Print a sample config file of every option and exit"),
        )
        .arg(
            Arg::new(CHECK)
                .long(CHECK)
                .action(ArgAction::SetTrue)
                .conflicts_with(GENERATE)
                .help("Read the configuration as a start would, check every option, say what is wrong (exit 1) or that it is fine (exit 0), and start nothing"),
        )
        .arg(
            Arg::new(UPGRADE)
                .long(UPGRADE)
                .value_name("PID")
                .value_parser(clap::value_parser!(u32).range(1..=i64::from(i32::MAX)))
                .action(ArgAction::Set)
                .conflicts_with_all([GENERATE, CHECK])
                .help("Ask the running top process PID (systemd's $MAINPID) for a binary upgrade, as SIGUSR2 does, and wait: exit 0 once the new executable is ready and the old process gone, 1 with the reason when the upgrade failed"),
        )
        .arg(
            Arg::new(NAMESPACE)
                .long(NAMESPACE)
                .value_name("NAME")
                .action(ArgAction::Append)
                .requires(GENERATE)
                .help("With --generate-config: only the options of this namespace; may be given several times"),
        )
        .arg(
            Arg::new(VERSION)
                .long(VERSION)
                .action(ArgAction::SetTrue)
                .help("Show the program's version number and exit"),
        )
        .after_help(format!(
            "Environment variables {ENV_PREFIX}<GROUP>__<OPTION> ({ENV_PREFIX}DEFAULT__DEBUG=true) set options too, over the files; the options above, over both."
        ));
    for spec in specs {
        let flag = spec.flag();
        let help = spec.help.lines().next().unwrap_or_default().to_owned();
        command = if spec.kind == OptionType::Boolean {
            command
                .arg(
                    Arg::new(flag.clone())
                        .long(long(&flag))
                        .action(ArgAction::SetTrue)
                        .overrides_with(flag.clone())
                        .help(help.clone()),
                )
                .arg(
                    Arg::new(negation(&flag))
                        .long(long(&negation(&flag)))
                        .action(ArgAction::SetTrue)
                        .overrides_with(negation(&flag))
                        .help(format!("The opposite of {flag}")),
                )
        } else {
            command.arg(
                Arg::new(flag.clone())
                    .long(long(&flag))
                    .value_name("VALUE")
                    .action(ArgAction::Append)
                    .help(help),
            )
        };
    }
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_wins() {
        assert!(
            matches!(Invocation::parse("svc", ["--help"]), Ok(Invocation::Help(text)) if text.contains("--config-dir"))
        );
    }

    #[test]
    fn generate_config_with_namespaces() {
        assert_eq!(
            Invocation::parse(
                "svc",
                ["--namespace", "a", "--generate-config", "--namespace=b"]
            )
            .unwrap(),
            Invocation::GenerateConfig {
                namespaces: vec!["a".into(), "b".into()]
            }
        );
        assert!(Invocation::parse("svc", ["--namespace", "a"]).is_err());
        let Invocation::Run(line) = Invocation::parse("svc", Vec::<String>::new()).unwrap() else {
            panic!("not a run")
        };
        assert_eq!(line.sources.env_prefix.as_deref(), Some("OS_"));
    }

    #[test]
    fn cli_flags_keep_their_order_so_the_last_one_wins() {
        let Invocation::Run(line) = Invocation::parse_with(
            "svc",
            [
                "--debug",
                "--log-file",
                "a.log",
                "--nodebug",
                "--log-file=b.log",
            ],
            &[],
        )
        .unwrap() else {
            panic!("not a run")
        };
        let of = |option: &str| -> Vec<&str> {
            line.sources
                .cli
                .iter()
                .filter(|(_, name, _)| name == option)
                .map(|(_, _, value)| value.as_str())
                .collect()
        };
        assert_eq!(of("debug"), ["true", "false"]);
        assert_eq!(of("log_file"), ["a.log", "b.log"]);
        let Invocation::Run(line) =
            Invocation::parse_with("svc", ["--nodebug", "--debug"], &[]).unwrap()
        else {
            panic!("not a run")
        };
        assert_eq!(line.sources.cli.last().map(|c| c.2.as_str()), Some("true"));
    }

    #[test]
    fn pid_file_is_read_and_listed_in_the_help() {
        let Invocation::Run(line) =
            Invocation::parse("svc", ["--pid-file", "/run/svc.pid"]).unwrap()
        else {
            panic!("not a run")
        };
        assert_eq!(line.pid_file, Some(PathBuf::from("/run/svc.pid")));
        let Invocation::Run(line) = Invocation::parse("svc", Vec::<String>::new()).unwrap() else {
            panic!("not a run")
        };
        assert_eq!(line.pid_file, None);
        let Ok(Invocation::Help(text)) = Invocation::parse("svc", ["--help"]) else {
            panic!("no help")
        };
        assert!(text.contains("--pid-file <PATH>"), "{text}");
        assert!(Invocation::parse("svc", ["--pid-file"]).is_err());
    }

    #[test]
    fn unknown_and_incomplete_arguments_are_errors() {
        let err = Invocation::parse("svc", ["--bogus"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("svc") && err.contains("--bogus"), "{err}");
        let err = Invocation::parse("svc", ["--config-file"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--config-file"), "{err}");
    }
}
