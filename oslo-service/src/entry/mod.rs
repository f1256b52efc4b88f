//! What `#[oslo::main]` runs: command line, configuration, logging, the tokio runtime,
//! and the exit status.

mod check;
mod runtime;

use std::process::ExitCode;
use std::time::Duration;

pub use runtime::{RuntimeFlavor, RuntimeSpec};

use crate::config::{CommandLine, Config, GroupInfo, Invocation, generate_sample};
use crate::error::Result;

/// What the entry macro knows about the program.
#[derive(Clone, Copy, Debug)]
pub struct MainSpec {
    /// The program's name, for the help text and the logs.
    pub name: &'static str,
    /// The program's groups of options: `#[oslo::main(options = [A, B])]`.
    pub options: &'static [GroupInfo],
    /// The program's version, which `--version` prints: its package's.
    pub version: &'static str,
    /// The project whose configuration files are searched for when the command line
    /// names none: `#[oslo::main(project = "nova")]`; the program's name by default.
    pub project: Option<&'static str>,
    /// The runtime asked for: `#[oslo::main(flavor = "…", worker_threads = N)]`.
    pub runtime: RuntimeSpec,
}

/// The name the program was started under, as oslo.config's `prog`.
fn program() -> String {
    std::env::args_os()
        .next()
        .map(std::path::PathBuf::from)
        .and_then(|path| {
            path.file_name()
                .map(|name| name.to_string_lossy().into_owned())
        })
        .unwrap_or_default()
}

/// Runs the user's `async fn main(conf)`: parses the command line, loads the
/// configuration, sets up logging, builds the runtime, and turns the outcome into an exit
/// status (0 for `Ok`, 1 for an error, 2 for a bad command line).
pub fn run_main<F, Fut>(spec: MainSpec, main: F) -> ExitCode
where
    F: FnOnce(Config) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let parse = |args| {
        Invocation::parse_with(spec.name, args, spec.options)
            .map(|invocation| (invocation, Some(())))
    };
    // No arguments of the program's own: a worker, handed its parent's configuration,
    // has nothing to parse.
    run(spec, parse, Some(()), |conf, ()| main(conf))
}

/// Like [`run_main`] for `async fn main(conf, args: A)`: the program's own clap
/// command `A` (its flags and sub-commands) is parsed together with the service's flags,
/// and one `--help` lists them all.
pub fn run_main_with_cli<A, F, Fut>(spec: MainSpec, main: F) -> ExitCode
where
    A: clap::CommandFactory + clap::FromArgMatches,
    F: FnOnce(Config, A) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let parse = |args: std::iter::Skip<std::env::ArgsOs>| {
        let command = A::command().name(spec.name).bin_name(spec.name);
        let program = std::iter::once(std::ffi::OsString::from(spec.name));
        let (invocation, matches) =
            Invocation::parse_joined(command, program.chain(args), spec.options)?;
        let own = match invocation {
            Invocation::Run(_) => Some(A::from_arg_matches(&matches).map_err(|err| {
                crate::config::ConfigError::CommandLine(err.render().to_string())
            })?),
            _ => None,
        };
        Ok((invocation, own))
    };
    run(spec, parse, None, main)
}

/// What both entries do: `parse` reads the command line (and the program's own values
/// of it, `T`), then the configuration, the logging, the runtime; `main` runs with them.
/// A worker takes its configuration from its parent, and parses nothing when `no_args`
/// stands for the program's own values.
fn run<T, P, F, Fut>(spec: MainSpec, parse: P, no_args: Option<T>, main: F) -> ExitCode
where
    P: FnOnce(
        std::iter::Skip<std::env::ArgsOs>,
    ) -> Result<(Invocation, Option<T>), crate::config::ConfigError>,
    F: FnOnce(Config, T) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    // First of all: from here on, SIGTERM, SIGINT and SIGHUP wait for the launcher
    // instead of ending the process half-started.
    if let Err(err) = crate::signals::capture_early(crate::launcher::started_as_worker()) {
        eprintln!("{}: cannot take over the signals: {err}", spec.name);
        return ExitCode::FAILURE;
    }
    // SAFETY: this is the start of the program's `main`, before the runtime (or any other
    // thread of ours) exists, so nothing else reads or writes the environment or the
    // arguments, and nothing kept a pointer to their strings (std copies them).
    unsafe { crate::proctitle::prepare() };
    // SAFETY: as above.
    unsafe { crate::launcher::take_inherited_env() };
    // A worker shows which one it is from its first moment.
    if let Some(worker) = crate::launcher::current_worker() {
        crate::proctitle::set_worker(worker.service(), worker.index());
    }

    let handed = match crate::launcher::parent_values() {
        Ok(handed) => handed,
        Err(err) => {
            eprintln!("{}: {err}", spec.name);
            return ExitCode::FAILURE;
        }
    };
    let parsed = match (&handed, no_args) {
        (Some(_), Some(own)) => Ok((Invocation::Run(CommandLine::default()), Some(own))),
        _ => parse(std::env::args_os().skip(1)),
    };
    let (line, own) = match parsed {
        Ok((Invocation::Run(line), Some(own))) if handed.is_some() => (line, own),
        Ok((Invocation::Run(line), Some(own))) => (
            line.or_search(spec.project.unwrap_or(spec.name), &program()),
            own,
        ),
        Ok((Invocation::Run(_), None)) => {
            eprintln!("{}: no arguments of the program's own", spec.name);
            return ExitCode::from(2);
        }
        Ok((Invocation::Help(text), _)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Ok((Invocation::Version, _)) => {
            println!(
                "{} {} (oslo-service {})",
                spec.name,
                spec.version,
                env!("CARGO_PKG_VERSION")
            );
            return ExitCode::SUCCESS;
        }
        Ok((Invocation::Upgrade { pid }, _)) => {
            return crate::launcher::request_upgrade(spec.name, pid);
        }
        Ok((Invocation::CheckConfig(line), _)) => {
            let line = line.or_search(spec.project.unwrap_or(spec.name), &program());
            return check::run(spec.name, line.sources, spec.options);
        }
        Ok((Invocation::GenerateConfig { namespaces }, _)) => {
            return match generate_sample(spec.options, &namespaces) {
                Ok(sample) => {
                    print!("{sample}");
                    ExitCode::SUCCESS
                }
                Err(err) => {
                    eprintln!("{}: {err}", spec.name);
                    ExitCode::from(2)
                }
            };
        }
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::from(2);
        }
    };
    // A worker runs on its parent's values and sources; any other process reads its own.
    let conf = match handed {
        Some((values, sources)) => Config::with_values(sources, spec.options, values),
        None => Config::load_with(line.sources, spec.options),
    };
    let conf = match conf {
        Ok(conf) => conf,
        Err(err) => {
            // Every bad value, one a line.
            for err in err.each() {
                eprintln!("{}: {err}", spec.name);
            }
            return ExitCode::FAILURE;
        }
    };
    // Before the log file is made: the umask applies to it, and it is given to the
    // workers' user.
    if let Err(err) = crate::privileges::configure(&conf) {
        for err in err.each() {
            eprintln!("{}: {err}", spec.name);
        }
        return ExitCode::FAILURE;
    }
    if let Err(err) = crate::log::setup(&conf, spec.name) {
        eprintln!("{}: {err}", spec.name);
        return ExitCode::FAILURE;
    }
    crate::proctitle::report();
    // Whether this process records metrics, decided once for its life.
    if let Err(err) = crate::metrics::configure(&conf) {
        tracing::error!("{err}");
        return ExitCode::FAILURE;
    }
    // Whether this process sends spans, decided once for its life too.
    if let Err(err) = crate::otel::configure(&conf, spec.name) {
        tracing::error!("{err}");
        return ExitCode::FAILURE;
    }
    // Once for the host: a worker runs on its parent's values, which the parent has
    // reported on.
    if !crate::launcher::started_as_worker() {
        conf.log_at_start();
    }
    // Start-up ends here if it was asked to: nothing is running yet that would need a
    // graceful stop.
    if let Some(signal) = crate::signals::stop_requested_early() {
        tracing::info!(%signal, "caught signal while starting, exiting");
        return match signal {
            crate::signals::SignalEvent::Interrupt => ExitCode::FAILURE,
            _ => ExitCode::SUCCESS,
        };
    }
    // The top process's pid, once the configuration is known to be good: a successor's
    // once it is ready. Removed when this returns, if it still names this process.
    let _pid_file = match line.pid_file {
        Some(path) if !crate::launcher::started_as_worker() => {
            match crate::pidfile::claim(path, crate::launcher::has_predecessor()) {
                Ok(release) => Some(release),
                Err(err) => {
                    tracing::error!("{err}");
                    return ExitCode::FAILURE;
                }
            }
        }
        _ => None,
    };
    let sizing = runtime::sizing(spec.runtime, crate::launcher::worker_thread_share());
    let runtime = match runtime::build(sizing) {
        Ok(runtime) => runtime,
        Err(err) => {
            tracing::error!(error = %err, "cannot start the tokio runtime");
            return ExitCode::FAILURE;
        }
    };
    // From here on, a signal that no launcher takes over ends the program as it would
    // any other (a worker always runs one: its parent decides when it ends).
    if !crate::launcher::started_as_worker() {
        if let Err(err) = crate::signals::hand_over() {
            tracing::warn!(error = %err, "cannot hand the signals over to the program");
        }
    }
    // The spans of a graceful stop's last requests are sent before the process ends,
    // within graceful_shutdown_timeout and 5 s.
    let flush_within = crate::config::RuntimeOptions::read(&conf.snapshot())
        .ok()
        .and_then(|options| options.graceful_shutdown_timeout)
        .unwrap_or(Duration::MAX);
    // On the heap: the state machine of a whole service is large, and a worker's one
    // thread would otherwise dirty that much more of its stack.
    let outcome = runtime.block_on(Box::pin(async {
        let worker = crate::launcher::current_worker()
            .map(|worker| (worker.service().to_owned(), worker.index()));
        crate::otel::start(worker);
        let outcome = main(conf, own).await;
        crate::otel::flush(flush_within).await;
        outcome
    }));
    // Tasks still running (a stop hook that hung past the timeout, say) must not hold the
    // exit back.
    runtime.shutdown_background();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err}");
            ExitCode::FAILURE
        }
    }
}
