//! `hello`: the smallest service, logging each step of its lifecycle, with one periodic
//! task and its own options declared with `#[oslo::options]`.
//!
//! ```text
//! cargo run --bin hello -- --config-file examples/hello.conf
//! kill -HUP <pid>    # reloads hello.conf: reset() re-applies log levels and the greeting
//! kill -TERM <pid>   # graceful stop, exit status 0
//! cargo run --bin hello -- --generate-config --namespace hello   # its sample config
//! ```
//!
//! Its `[hello]` options are declared once, in [`HelloOpts`]: `greeting` (logged at
//! start and reset; mutable, so a `mutate` reload applies it in place),
//! `restart_method` (`reload` or `mutate`), and two switches that show failure
//! handling: `fail_on_start` makes start fail, `hang_on_stop` makes stop never return,
//! so that `graceful_shutdown_timeout` has to end the process.

use oslo::prelude::*;

/// The options of the `[hello]` group.
#[oslo::options(group = "hello", namespace = "hello")]
struct HelloOpts {
    /// The greeting logged at start, at each reset and by the periodic task.
    #[opt(default = "hello, world", mutable, cli)]
    greeting: String,
    /// What SIGHUP does: `reload` stops, resets and starts the service again; `mutate`
    /// applies the mutable options and resets it in place.
    #[opt(default = "reload", choices = ["reload", "mutate"])]
    restart_method: String,
    /// Make start fail, to see how a failed start is reported.
    #[opt(default = false)]
    fail_on_start: bool,
    /// Make stop never return, so that graceful_shutdown_timeout ends the process.
    #[opt(default = false)]
    hang_on_stop: bool,
    /// A token sent with each greeting: a secret, logged as ****.
    #[opt(secret, mutable)]
    token: Option<String>,
}

/// Greets at start and at every reset.
#[oslo::service(name = "hello")]
struct Hello;

#[oslo::service]
impl Hello {
    async fn start(&self, cx: &Context) -> oslo::Result<()> {
        let opts = cx.conf().group::<HelloOpts>()?;
        if opts.fail_on_start {
            return Err(oslo::Error::msg("fail_on_start is set in [hello]"));
        }
        tracing::info!(greeting = %opts.greeting, "hello started");
        tracing::debug!("hello runs with debug logging");
        Ok(())
    }

    async fn stop(&self, cx: &Context) -> oslo::Result<()> {
        tracing::info!("hello stopping");
        if cx.conf().group::<HelloOpts>()?.hang_on_stop {
            std::future::pending::<()>().await;
        }
        Ok(())
    }

    /// Runs at start, then every 10 s while the service runs.
    #[periodic_task(spacing = "10s", run_immediately = true)]
    async fn greet(&self, cx: &Context) -> oslo::Result<()> {
        let opts = cx.conf().group::<HelloOpts>()?;
        let greeting = &opts.greeting;
        tracing::info!(%greeting, with_token = opts.token.is_some(), "periodic greeting");
        Ok(())
    }

    async fn reset(&self, cx: &Context) -> oslo::Result<()> {
        oslo::log::setup(cx.conf(), "hello")?;
        let greeting = &cx.conf().group::<HelloOpts>()?.greeting;
        tracing::info!(%greeting, "hello reset");
        tracing::debug!("hello runs with debug logging");
        Ok(())
    }
}

#[oslo::main(options = [HelloOpts])]
async fn main(conf: oslo::Config) -> oslo::Result<()> {
    let restart_method = conf.group::<HelloOpts>()?.restart_method.parse()?;
    conf.on_mutate(|changes| {
        for change in changes {
            tracing::info!(
                group = %change.group,
                option = %change.option,
                old = change.old.as_deref().unwrap_or("<unset>"),
                new = change.new.as_deref().unwrap_or("<unset>"),
                "option changed"
            );
        }
    });
    oslo::ServiceLauncher::new(conf)
        .restart_method(restart_method)
        .launch_service(Hello)
        .run()
        .await
}
