//! `hello`: the smallest service, logging each step of its lifecycle, with one periodic
//! task.
//!
//! ```text
//! cargo run --bin hello -- --config-file examples/hello.conf
//! kill -HUP <pid>    # reloads hello.conf: reset() re-applies log levels and the greeting
//! kill -TERM <pid>   # graceful stop, exit status 0
//! ```
//!
//! Its `[hello]` options: `greeting` (logged at start and reset), `restart_method`
//! (`reload` or `mutate`), and two switches that show failure handling: `fail_on_start`
//! makes start fail, `hang_on_stop` makes stop never return, so that
//! `graceful_shutdown_timeout` has to end the process.

use oslo::prelude::*;

const GROUP: &str = "hello";

/// Greets at start and at every reset.
#[oslo::service(name = "hello")]
struct Hello;

#[oslo::service]
impl Hello {
    async fn start(&self, cx: &Context) -> oslo::Result<()> {
        if cx.conf().get_or(GROUP, "fail_on_start", false)? {
            return Err(oslo::Error::msg("fail_on_start is set in [hello]"));
        }
        let greeting = greeting(cx)?;
        tracing::info!(%greeting, "hello started");
        tracing::debug!("hello runs with debug logging");
        Ok(())
    }

    async fn stop(&self, cx: &Context) -> oslo::Result<()> {
        tracing::info!("hello stopping");
        if cx.conf().get_or(GROUP, "hang_on_stop", false)? {
            std::future::pending::<()>().await;
        }
        Ok(())
    }

    /// Runs at start, then every 10 s while the service runs.
    #[periodic_task(spacing = "10s", run_immediately = true)]
    async fn greet(&self, cx: &Context) -> oslo::Result<()> {
        tracing::info!(greeting = %greeting(cx)?, "periodic greeting");
        Ok(())
    }

    async fn reset(&self, cx: &Context) -> oslo::Result<()> {
        oslo::log::setup(cx.conf(), "hello")?;
        tracing::info!(greeting = %greeting(cx)?, "hello reset");
        tracing::debug!("hello runs with debug logging");
        Ok(())
    }
}

fn greeting(cx: &Context) -> oslo::Result<String> {
    Ok(cx
        .conf()
        .get_or(GROUP, "greeting", "hello, world".to_owned())?)
}

#[oslo::main]
async fn main(conf: oslo::Config) -> oslo::Result<()> {
    let restart_method = conf
        .get_or(GROUP, "restart_method", "reload".to_owned())?
        .parse()?;
    oslo::ServiceLauncher::new(conf)
        .restart_method(restart_method)
        .launch_service(Hello)
        .run()
        .await
}
