//! The command line every service accepts: `--config-file` and `--config-dir`, as
//! oslo.config offers them.

use std::ffi::OsString;
use std::path::PathBuf;

use super::spec::{GroupInfo, OptionSpec, OptionType};
use super::{ConfigError, ConfigSources, ENV_PREFIX};

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
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
}

/// A command line that asks to run the service.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommandLine {
    /// The configuration files and directories named.
    pub sources: ConfigSources,
}

impl CommandLine {
    /// Where oslo.config looks when the command line names nothing: without
    /// `--config-file`, the first `<project>.conf` and `<program>.conf` found in
    /// `~/.<project>/`, `~/`, `/etc/<project>/`, `/etc/`; without `--config-dir`, the
    /// first `<project>.conf.d/` and `<program>.conf.d/` found there.
    ///
    /// ```
    /// use oslo::config::CommandLine;
    ///
    /// let line = CommandLine::default().or_search("nova", "nova-api");
    /// // On a machine without /etc/nova.conf and the like, nothing is found.
    /// # let _ = line;
    /// ```
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
    ///
    /// ```
    /// use oslo::config::Invocation;
    ///
    /// let args = ["--config-file", "a.conf", "--config-file=b.conf", "--config-dir", "conf.d"];
    /// let Invocation::Run(line) = Invocation::parse("svc", args)? else { unreachable!() };
    /// assert_eq!(line.sources.files, ["a.conf", "b.conf"].map(std::path::PathBuf::from));
    /// assert_eq!(line.sources.dirs, [std::path::PathBuf::from("conf.d")]);
    /// # Ok::<(), oslo::config::ConfigError>(())
    /// ```
    pub fn parse<I>(program: &str, args: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator,
        I::Item: Into<OsString>,
    {
        Self::parse_with(program, args, &[])
    }

    /// Like [`Invocation::parse`], with the flags of the options of `groups` (and of the
    /// runtime's) declared `#[opt(cli)]`: `--name VALUE` (`--group-name` outside
    /// `[DEFAULT]`), or `--name` / `--noname` for a bool; a flag wins over the files.
    ///
    /// ```
    /// use oslo::config::Invocation;
    ///
    /// /// Options.
    /// #[oslo::options(group = "api")]
    /// struct ApiOpts {
    ///     /// The port.
    ///     #[opt(default = 8080, cli)]
    ///     port: u16,
    /// }
    ///
    /// let groups = [oslo::config::GroupInfo::of::<ApiOpts>()];
    /// let Invocation::Run(line) = Invocation::parse_with("svc", ["--api-port", "9000"], &groups)? else {
    ///     unreachable!()
    /// };
    /// assert_eq!(line.sources.cli, [("api".to_owned(), "port".to_owned(), "9000".to_owned())]);
    /// # Ok::<(), oslo::config::ConfigError>(())
    /// ```
    pub fn parse_with<I>(program: &str, args: I, groups: &[GroupInfo]) -> Result<Self, ConfigError>
    where
        I: IntoIterator,
        I::Item: Into<OsString>,
    {
        use lexopt::prelude::*;

        let flags: Vec<&'static OptionSpec> = super::with_runtime_groups(groups)
            .iter()
            .flat_map(|info| (info.options)().iter())
            .filter(|spec| spec.cli)
            .collect();
        let mut line = CommandLine::default();
        line.sources.env_prefix = Some(ENV_PREFIX.to_owned());
        let mut generate = false;
        let mut namespaces = Vec::new();
        let mut parser = lexopt::Parser::from_args(args);
        let bad = |err: lexopt::Error| ConfigError::CommandLine(format!("{program}: {err}"));
        while let Some(arg) = parser.next().map_err(bad)? {
            match arg {
                Long("config-file") => line
                    .sources
                    .files
                    .push(PathBuf::from(parser.value().map_err(bad)?)),
                Long("config-dir") => line
                    .sources
                    .dirs
                    .push(PathBuf::from(parser.value().map_err(bad)?)),
                Long("generate-config") => generate = true,
                Long("namespace") => {
                    namespaces.push(parser.value().map_err(bad)?.into_string().map_err(
                        |value| {
                            ConfigError::CommandLine(format!(
                                "{program}: --namespace {value:?} is not UTF-8"
                            ))
                        },
                    )?)
                }
                Short('h') | Long("help") => return Ok(Invocation::Help(help(program, &flags))),
                Long("version") => return Ok(Invocation::Version),
                Long(name) => {
                    let flag = format!("--{name}");
                    let negated = |spec: &&&OptionSpec| {
                        spec.kind == OptionType::Boolean
                            && format!("--no{}", &spec.flag()[2..]) == flag
                    };
                    let value = if let Some(spec) = flags.iter().find(|spec| spec.flag() == flag) {
                        let text = if spec.kind == OptionType::Boolean {
                            match parser.optional_value() {
                                Some(value) => value.string().map_err(bad)?,
                                None => "true".to_owned(),
                            }
                        } else {
                            parser.value().map_err(bad)?.string().map_err(bad)?
                        };
                        (spec, text)
                    } else if let Some(spec) = flags.iter().find(negated) {
                        (spec, "false".to_owned())
                    } else {
                        return Err(bad(Long(name).unexpected()));
                    };
                    let (spec, text) = value;
                    line.sources
                        .cli
                        .push((spec.group.to_owned(), spec.name.to_owned(), text));
                }
                other => return Err(bad(other.unexpected())),
            }
        }
        if generate {
            return Ok(Invocation::GenerateConfig { namespaces });
        }
        if !namespaces.is_empty() {
            return Err(ConfigError::CommandLine(format!(
                "{program}: --namespace goes with --generate-config"
            )));
        }
        Ok(Invocation::Run(line))
    }
}

fn help(program: &str, flags: &[&OptionSpec]) -> String {
    let mut options = String::new();
    if !flags.is_empty() {
        options.push_str("\noptions of the program (over the files):\n");
        for spec in flags {
            let flag = match spec.kind {
                OptionType::Boolean => format!("{}, --no{}", spec.flag(), &spec.flag()[2..]),
                _ => format!("{} VALUE", spec.flag()),
            };
            let help = spec.help.lines().next().unwrap_or_default();
            options.push_str(&format!("  {flag:<20} {help}\n"));
        }
    }
    let mut text = format!(
        "usage: {program} [--config-file PATH]... [--config-dir DIR]...\n\
         \n\
         options:\n  \
         -h, --help           show this help message and exit\n  \
         --version            show the program's version number and exit\n  \
         --config-file PATH   path to a config file to use; may be given several times,\n                       \
         and values in later files win\n  \
         --config-dir DIR     path to a directory of *.conf files, read in sorted order\n                       \
         after the files given with --config-file\n  \
         --generate-config    print a sample config file of every option and exit\n  \
         --namespace NAME     with --generate-config: only the options of this\n                       \
         namespace; may be given several times\n\
         \n\
         Environment variables {ENV_PREFIX}<GROUP>__<OPTION> ({ENV_PREFIX}DEFAULT__DEBUG=true)\n\
         set options too, over the files.\n"
    );
    text.push_str(&options);
    text
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
