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
//! `greeting_interval` (the periodic greeting's spacing, applied again at each reload),
//! `restart_method` (`reload` or `mutate`), and two switches that show failure
//! handling: `fail_on_start` makes start fail, `hang_on_stop` makes stop never return,
//! so that `graceful_shutdown_timeout` has to end the process.

use std::time::Duration;

use oslo::prelude::*;

/// The options of the `[hello]` group.
#[oslo::options(group = "hello", namespace = "hello")]
struct HelloOpts {
    /// The greeting logged at start, at each reset and by the periodic task.
    #[opt(default = "hello, world", mutable, cli)]
    greeting: String,
    /// Time between two periodic greetings; a reload applies a new value at once.
    #[opt(default = "10s", mutable)]
    greeting_interval: Duration,
    /// What SIGHUP does.
    #[opt(default = "reload")]
    restart_method: oslo::RestartMethod,
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

    /// Runs at start, then every `[hello] greeting_interval` (10 s by default) while the
    /// service runs.
    #[periodic_task(spacing = HelloOpts::greeting_interval, run_immediately = true)]
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
    let restart_method = conf.group::<HelloOpts>()?.restart_method;
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use oslo::config::GroupInfo;
    use oslo::testing::Harness;

    use super::{Hello, HelloOpts};

    const GROUPS: &[GroupInfo] = &[GroupInfo::of::<HelloOpts>()];

    #[tokio::test(start_paused = true)]
    async fn greets_every_ten_seconds_once_started() {
        let mut hello = Harness::new(Hello, "[hello]\ngreeting = hi\n", GROUPS).unwrap();
        hello.start().await.unwrap();
        hello.advance(Duration::from_secs(35)).await;
        // At 0, 10, 20 and 30 s.
        assert_eq!(hello.task_stats()[0].runs, 4);
        assert_eq!(
            hello
                .logs()
                .lines_with(&["periodic greeting", "greeting=hi"]),
            4
        );
        assert!(hello.stop(Duration::from_secs(1)).await);
        assert!(hello.logs().contains("hello stopping"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_mutate_of_greeting_interval_respaces_the_greeting_at_once() {
        let mut hello = Harness::new(Hello, "[hello]\ngreeting_interval = 1m\n", GROUPS).unwrap();
        hello.start().await.unwrap();
        hello.advance(Duration::from_secs(30)).await;
        let greet = &hello.task_stats()[0];
        assert_eq!(
            (greet.runs, greet.spacing),
            (1, Some(Duration::from_secs(60)))
        );
        assert_eq!(
            greet.spacing_from.as_deref(),
            Some("hello.greeting_interval")
        );

        // Its next run, 5 s after the one at 0, is past: it greets at once, then every 5 s.
        hello
            .mutate("[hello]\ngreeting_interval = 5s\n")
            .await
            .unwrap();
        hello.advance(Duration::from_secs(12)).await;
        let greet = &hello.task_stats()[0];
        assert_eq!(
            (greet.runs, greet.spacing),
            (4, Some(Duration::from_secs(5)))
        );
        assert!(hello.logs().contains("periodic task spacing changed"));
        assert!(hello.stop(Duration::from_secs(1)).await);
    }

    #[tokio::test(start_paused = true)]
    async fn a_mutate_applies_the_new_greeting_and_keeps_immutable_options() {
        let mut hello = Harness::new(Hello, "[hello]\ngreeting = hi\n", GROUPS).unwrap();
        let changed = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = changed.clone();
        hello.conf().on_mutate(move |changes| {
            seen.lock()
                .unwrap()
                .extend(changes.iter().map(|c| (c.option.clone(), c.new.clone())));
        });
        hello.start().await.unwrap();
        hello
            .mutate("[hello]\ngreeting = bonjour\nhang_on_stop = true\n")
            .await
            .unwrap();
        assert_eq!(
            *changed.lock().unwrap(),
            [("greeting".to_owned(), Some("bonjour".to_owned()))]
        );
        assert!(hello.logs().contains("hello reset greeting=bonjour"));
        hello.advance(Duration::from_secs(10)).await;
        assert!(
            hello
                .logs()
                .lines_with(&["periodic greeting", "greeting=bonjour"])
                >= 1
        );
        // hang_on_stop is not mutable: the stop does not hang.
        assert!(hello.logs().contains("ignoring change to immutable option"));
        assert!(hello.stop(Duration::from_secs(1)).await);
    }

    #[tokio::test(start_paused = true)]
    async fn fail_on_start_says_why_and_a_hung_stop_is_reported() {
        let mut failing = Harness::new(Hello, "[hello]\nfail_on_start = true\n", GROUPS).unwrap();
        let err = failing.start().await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "service hello failed to start: fail_on_start is set in [hello]"
        );

        // Its greeting's spacing is an option of a group the test did not register: the
        // start fails before hello's own, naming the task and the option.
        let mut unregistered = Harness::new(Hello, "[hello]\n", &[]).unwrap();
        let err = unregistered.start().await.unwrap_err().to_string();
        assert!(
            err.starts_with("service hello failed to start: periodic task greet takes its spacing from [hello] greeting_interval, which cannot be read: "),
            "{err}"
        );

        let mut hanging = Harness::new(Hello, "[hello]\nhang_on_stop = true\n", GROUPS).unwrap();
        hanging.start().await.unwrap();
        assert!(!hanging.stop(Duration::from_secs(60)).await);
    }

    #[tokio::test(start_paused = true)]
    async fn a_reload_that_does_not_load_is_refused_and_the_service_runs_on() {
        let mut hello = Harness::new(Hello, "[hello]\ngreeting = hi\n", GROUPS).unwrap();
        hello.start().await.unwrap();
        let err = hello
            .reload("[hello]\nfail_on_start = maybe\n")
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid value 'maybe' for option fail_on_start in group [hello]"),
            "{err}"
        );
        hello.advance(Duration::from_secs(10)).await;
        assert_eq!(hello.task_stats()[0].runs, 2);
    }
}
