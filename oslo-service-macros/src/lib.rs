//! Procedural macros of `oslo-service`, re-exported by the runtime as `oslo::service` and
//! `oslo::main`. Depend on `oslo-service`, not on this crate.
//!
//! - [`macro@service`] on a struct names the service; on the struct's inherent impl block
//!   it implements `oslo::ServiceBase` from optional `async fn start/stop/reset` hooks.
//! - [`macro@OptionValue`] on an enum whose variants have no fields implements
//!   `oslo::config::OptionValue`, one choice per variant, its doc comment the choice's help.
//! - [`macro@main`] on `async fn main(conf: oslo::Config) -> oslo::Result<()>` turns it
//!   into the process entry point: command line, configuration, logging, the tokio
//!   runtime and the exit status.
//!
//! Every macro runs in three steps, one module each: `parse` records what the user wrote,
//! `validate` checks it and reports every mistake at its span, `expand` generates code
//! that names the runtime only by absolute paths (`::oslo::…`, or the path given with
//! `crate = "…"`). When a check fails, the user's item is still emitted (with as much of
//! the expansion as can be trusted) so that only the real error shows.

#![deny(missing_docs)]

mod args;
mod attribute;
mod diag;
mod doc;
mod duration;
mod entry;
mod option_value;
mod options;
mod retry;
mod service;
mod tokens;

use proc_macro::TokenStream;

/// Makes a struct a service, and implements `oslo::ServiceBase` from its impl block.
///
/// On the struct, it records the service name (`name = "…"`, by default the struct's
/// name). On the struct's inherent impl block, the methods named `start`, `stop` and
/// `reset` become the lifecycle hooks; each one is optional and must read
/// `async fn start(&self, cx: &oslo::Context) -> oslo::Result<()>`.
///
/// ```ignore
/// #[oslo::service(name = "poller")]
/// struct Poller;
///
/// #[oslo::service]
/// impl Poller {
///     async fn start(&self, cx: &oslo::Context) -> oslo::Result<()> {
///         Ok(())
///     }
/// }
/// ```
///
/// Arguments on the struct, all optional:
/// - `name = "…"`: the service name (default: the struct's name), as logs, the debug
///   console and worker counts (`ProcessLauncher::set_workers`) name it. (Periodic
///   tasks are named after the struct: `Struct.method`.)
/// - `periodic_interval_max = "60s"`: the longest sleep between two ticks of the
///   service's periodic tasks, whatever their spacing (default 60 s).
/// - `periodic_fuzzy_delay = "5s"`: the first tick comes after a random delay of up to
///   this long (whole seconds), so that processes started together do not run their
///   tasks together (default 0).
/// - `periodic_max_concurrent = 4`: the most of its due tasks that run at once (1 to
///   1024, default 4), so that a slow task delays no other; a task never overlaps
///   itself. `[DEFAULT] periodic_max_concurrent` overrides it.
/// - `crate = "path"`: where the runtime is, for a renamed dependency (default `::oslo`).
///
/// On the impl block, only `crate = "path"`. Its methods marked `#[periodic_task]` (see
/// [`macro@periodic_task`]) become the service's periodic tasks, run between `start`
/// and `stop`.
///
/// Where the hooks run: `start` and `stop` in the process that runs the service (a
/// worker, with worker processes); `reset` after an accepted SIGHUP there, and in the
/// parent of the workers too, on its own copy of the service, which never ran `start`
/// (see docs/launchers.md). The launcher re-applies the log levels and reopens the log
/// file itself before `reset`.
#[proc_macro_attribute]
pub fn service(args: TokenStream, item: TokenStream) -> TokenStream {
    service::attribute(args.into(), item.into())
        .unwrap_or_else(diag::Failed::into_compile_error)
        .into()
}

/// Turns `async fn main(conf: oslo::Config) -> oslo::Result<()>` into the entry point.
///
/// The generated `fn main() -> std::process::ExitCode` parses the command line, loads
/// the configuration, sets up logging, builds the tokio runtime, runs the function in it
/// and maps its error to a non-zero exit status.
///
/// ```ignore
/// #[oslo::main]
/// async fn main(conf: oslo::Config) -> oslo::Result<()> {
///     Ok(())
/// }
/// ```
///
/// Arguments:
/// - `options = [PollerOpts, ApiOpts]`: the program's groups of options (declared with
///   `#[oslo::options]`): checked at start and at each reload, listed by
///   `--generate-config`, logged by `log_options`, applied by `mutate` when `mutable`.
/// - `cli = Args`: the program's own clap `Parser` (flags and sub-commands, as
///   `nova-manage db sync` has), parsed with the service's flags and handed to
///   `async fn main(conf: oslo::Config, args: Args)`; one `--help` lists both.
/// - `project = "nova"`: without `--config-file` (`--config-dir`), the first
///   `nova.conf` and `<program>.conf` (`.conf.d/` directories) found in `~/.nova/`,
///   `~/`, `/etc/nova/` and `/etc/` are read, as oslo.config does (default: the
///   program's name).
/// - `flavor = "current_thread"` or `"multi_thread"`, and `worker_threads = N`: the
///   tokio runtime, as `#[tokio::main]` takes them. Left out, a process that is no
///   worker runs a multi-threaded runtime with a thread per core, and a worker process
///   its share of the cores (cores / workers in all, at least one; a current-thread
///   runtime when that is one), so that several workers on a small machine do not each
///   start a thread per core. `worker_threads` with `current_thread` is an error.
/// - `crate = "path"`: where the runtime is, for a renamed dependency (default `::oslo`).
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    entry::attribute(args.into(), item.into())
        .unwrap_or_else(diag::Failed::into_compile_error)
        .into()
}

/// Declares a group of configuration options as a struct: each field is an option, its
/// doc comment the help, its type the option's type, and `#[opt(...)]` the rest.
///
/// ```ignore
/// /// Options of the poller.
/// #[oslo::options(group = "poller")]
/// struct PollerOpts {
///     /// Time between two polls.
///     #[opt(default = "30s", mutable)]
///     interval: std::time::Duration,
///     /// Upstream endpoints.
///     #[opt(default = ["http://127.0.0.1:8080"])]
///     endpoints: Vec<String>,
/// }
/// ```
///
/// Arguments of the attribute: `group = "..."` (required; `"DEFAULT"` for options
/// outside any section), `namespace = "..."` (for the sample generator; default: the
/// crate's name), `crate = "path"`.
///
/// Field types: `String`, `bool`, integers, `f64`, `oslo::config::Port`, `Duration`,
/// `PathBuf`, `Vec<T>` (a comma-separated list, or with `multi` a key repeated),
/// `BTreeMap<String, String>` (`k:v,k2:v2`), `Option<T>` (unset is `None`), or a type
/// that implements `oslo::config::OptionValue`.
///
/// Field arguments: `default = ...` (checked against the type and bounds at compile
/// time), `min`, `max`, `choices = ["a", "b"]` (String options), `multi`,
/// `deprecated_name = "..."`, `deprecated_group = "..."`, `secret`, `mutable`,
/// `required`, `cli` (also a command-line flag, `--name` or `--group-name`, that wins
/// over the files; a bool is `--name` / `--noname`), `serde` (a type of your own that derives serde's `Deserialize` instead of
/// implementing `OptionValue`: read from its text, or from `key:value` pairs for a
/// struct). Every field needs a doc comment; a field that is not an `Option`, a
/// list or a dict needs a `default` or `required`.
#[proc_macro_attribute]
pub fn options(args: TokenStream, item: TokenStream) -> TokenStream {
    options::attribute(args.into(), item.into())
        .unwrap_or_else(diag::Failed::into_compile_error)
        .into()
}

/// Makes an enum whose variants have no fields an option type: implements
/// `oslo::config::OptionValue` with one choice per variant.
///
/// ```ignore
/// /// How the engine runs.
/// #[derive(oslo::config::OptionValue)]
/// enum Mode {
///     /// Skip the checks.
///     Fast,
///     /// Check everything twice.
///     #[opt(name = "careful")]
///     Safe,
/// }
/// ```
///
/// A variant reads from its name in snake_case (`FastPath` from `fast_path`), or from the
/// text `#[opt(name = "...")]` gives it; its doc comment is that value's description in
/// the sample config (`# fast - Skip the checks.`). Values are read trimmed; any other
/// text is refused with the list of those accepted.
///
/// Arguments: `#[opt(name = "...")]` on a variant, `#[opt(crate = "path")]` on the enum
/// (where the runtime is, for a renamed dependency; default `::oslo`).
#[proc_macro_derive(OptionValue, attributes(opt))]
#[allow(non_snake_case, reason = "a derive is named after its trait")]
pub fn OptionValue(item: TokenStream) -> TokenStream {
    option_value::derive(item.into())
        .unwrap_or_else(diag::Failed::into_compile_error)
        .into()
}

/// Declares a periodic task: an async method of a `#[oslo::service]` impl block that the
/// service runs every `spacing` once started.
///
/// ```ignore
/// #[oslo::service]
/// impl Poller {
///     #[periodic_task(spacing = "10s", run_immediately = true)]
///     async fn poll(&self, cx: &oslo::Context) -> oslo::Result<()> {
///         Ok(())
///     }
/// }
/// ```
///
/// Arguments, all optional (a bare `#[periodic_task]` runs every 60 s):
/// - `spacing`: a duration such as `"10s"`, `"1m30s"`, `"250ms"`, or a number of seconds;
///   0 means the default 60 s, a negative number disables the task.
/// - `run_immediately`: first run at the first tick instead of one spacing after start.
/// - `name`: the task's name (default: the method's name), unique in the service; logs,
///   stats and the console show it as `Struct.name`.
/// - `external_process_ok`: the task may run in another process; it runs here only while
///   the option `run_external_periodic_tasks` is true.
/// - `enabled = false`: the task never runs.
/// - `timeout = "30s"`: a run that takes longer is cancelled; it counts as a failure
///   (`timed out after 30s` in the stats and the console), and the task runs again at
///   its next period.
/// - `scope = "cluster"`: once per period in the whole cluster, on the host that claims
///   the period in etcd (`[coordination] backend_url`); the others skip it. `"local"`,
///   the default, runs it in every process of the service.
///
/// The method is `async fn NAME(&self)` or `async fn NAME(&self, cx: &oslo::Context)`,
/// returning `()` or `oslo::Result<()>`. `#[oslo::service]` on the impl block reads and
/// removes this attribute; anywhere else it is an error.
#[proc_macro_attribute]
pub fn periodic_task(args: TokenStream, item: TokenStream) -> TokenStream {
    let _ = args;
    let mut tokens = proc_macro2::TokenStream::from(item);
    let error = syn::Error::new(
        proc_macro2::Span::call_site(),
        "#[periodic_task] goes on an async method of an #[oslo::service] impl block, and that impl block needs #[oslo::service]",
    );
    tokens.extend(error.into_compile_error());
    tokens.into()
}

/// Retries the body of an `async fn` returning a `Result` while its error is one that
/// `when` calls retryable: oslo.service's `RetryDecorator`, through
/// `oslo::looping::retry`.
///
/// ```ignore
/// fn is_busy(err: &FetchError) -> bool {
///     matches!(err, FetchError::Busy)
/// }
///
/// #[oslo::retry(max_retry_count = 3, inc_sleep_time = "1s", max_sleep_time = "10s", when = is_busy)]
/// async fn fetch(&self, key: &str) -> Result<Page, FetchError> {
///     self.client.get(key).await
/// }
/// ```
///
/// Arguments:
/// - `when` (required): a `fn(&E) -> bool`, or a closure, saying which errors are retried;
///   other errors are returned at once.
/// - `max_retry_count`: retries at most this many times; -1 (the default) retries forever.
/// - `inc_sleep_time` (default 10 s): each sleep is this much longer than the one before.
/// - `max_sleep_time` (default 60 s): the longest sleep.
/// - `crate = "path"`: where the runtime is.
///
/// The body runs again on each retry, so it sees the function's arguments by reference.
#[proc_macro_attribute]
pub fn retry(args: TokenStream, item: TokenStream) -> TokenStream {
    retry::attribute(args.into(), item.into())
        .unwrap_or_else(diag::Failed::into_compile_error)
        .into()
}
