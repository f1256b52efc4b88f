//! [`Harness`]: a service run in the test's own process the way the launcher runs it,
//! on tokio's paused clock.

use std::time::Duration;

use super::{LogCapture, run_for};
use crate::config::{Config, ConfigError, GroupInfo};
use crate::error::Result;
use crate::launcher::Services;
use crate::periodic::TaskStats;
use crate::service::ServiceBase;

/// Runs one service in the test's process with the launcher's lifecycle (start, its
/// periodic tasks, reload or mutate, stop) and lets the test move the clock.
///
/// Use it in a `#[tokio::test(start_paused = true)]` (tokio's `test-util` feature): time
/// only moves when [`Harness::advance`] moves it, so a task every 10 s runs exactly four
/// times in 35 simulated seconds, at once. The log lines of the service are captured.
///
/// ```
/// use std::time::Duration;
/// use oslo::prelude::*;
/// use oslo::testing::Harness;
///
/// #[oslo::service]
/// struct Ticker;
///
/// #[oslo::service]
/// impl Ticker {
///     #[periodic_task(spacing = "10s", run_immediately = true)]
///     async fn tick(&self, cx: &Context) -> oslo::Result<()> {
///         let word: String = cx.conf().get_or("ticker", "word", "tick".into())?;
///         tracing::info!(%word, "ticked");
///         Ok(())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> oslo::Result<()> {
/// let mut harness = Harness::new(Ticker, "[ticker]\nword = tock\n", &[])?;
/// harness.start().await?;
/// harness.advance(Duration::from_secs(35)).await;
/// assert_eq!(harness.task_stats()[0].runs, 4);
/// assert_eq!(harness.logs().count("word=tock"), 4);
///
/// harness.reload("[ticker]\nword = tack\n").await?;
/// harness.advance(Duration::from_secs(1)).await;
/// assert!(harness.logs().contains("word=tack"));
/// assert!(harness.stop(Duration::from_secs(5)).await);
/// # Ok(())
/// # }
/// ```
pub struct Harness {
    conf: Config,
    services: Services,
    logs: LogCapture,
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("services", &self.services)
            .finish_non_exhaustive()
    }
}

impl Harness {
    /// A harness for `service` with the configuration of INI `text` (substituted and
    /// checked as a file would be) and the program's groups of options. Its log lines
    /// are captured from now on.
    pub fn new<S: ServiceBase>(
        service: S,
        text: &str,
        groups: &[GroupInfo],
    ) -> Result<Self, ConfigError> {
        let logs = LogCapture::start();
        let conf = Config::from_ini_text(text, groups)?;
        let mut services = Services::new(conf.clone());
        services.add(std::sync::Arc::new(service));
        Ok(Harness {
            conf,
            services,
            logs,
        })
    }

    /// The configuration the service runs with: register `on_mutate` hooks here.
    pub fn conf(&self) -> &Config {
        &self.conf
    }

    /// Starts the service, as the launcher does; an error says why it did not start
    /// (the error the launcher would log before exiting with status 1).
    pub async fn start(&mut self) -> Result<()> {
        let started = self.services.start().await;
        super::settle().await;
        started
    }

    /// Lets `duration` pass on the paused clock: every timer due meanwhile fires, in
    /// order, so each periodic task runs exactly as often as it would have.
    pub async fn advance(&self, duration: Duration) {
        run_for(duration).await;
    }

    /// What a SIGHUP in `reload` mode does with INI `text` as the new files: the whole
    /// configuration replaced, the service stopped, reset and started again. A
    /// configuration that does not load is refused whole, with the error the launcher
    /// logs, and the service runs on.
    pub async fn reload(&mut self, text: &str) -> Result<()> {
        self.conf.reload_from_ini(text)?;
        self.services.restart().await?;
        super::settle().await;
        Ok(())
    }

    /// What a SIGHUP in `mutate` mode does with INI `text` as the new files: only the
    /// mutable options change (the `on_mutate` hooks are called), then the service is
    /// reset in place.
    pub async fn mutate(&mut self, text: &str) -> Result<()> {
        self.conf.mutate_from_ini(text)?;
        self.services.reset().await;
        super::settle().await;
        Ok(())
    }

    /// The record of each periodic task of the service, as of its last tick.
    pub fn task_stats(&self) -> Vec<TaskStats> {
        self.services
            .contexts()
            .iter()
            .flat_map(|cx| cx.periodic_task_stats())
            .collect()
    }

    /// The log lines the service emitted since the harness was made.
    pub fn logs(&self) -> &LogCapture {
        &self.logs
    }

    /// Stops the service as SIGTERM does and waits for it, at most `timeout` (simulated
    /// time): `true` when it stopped, `false` when it was still stopping then (a hung
    /// `stop` hook, say), which the launcher would end with exit status 1.
    pub async fn stop(&mut self, timeout: Duration) -> bool {
        let services = &self.services;
        let stopped = async {
            services.stop().await;
            services.wait().await;
        };
        tokio::time::timeout(timeout, stopped).await.is_ok()
    }
}
