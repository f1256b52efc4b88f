//! Logging set-up from the configuration, with levels that can be re-applied at run
//! time: call [`setup`] again from a service's `reset` hook after a SIGHUP.

use std::sync::OnceLock;

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;
use tracing_subscriber::{Registry, reload};

use crate::config::{Config, RuntimeOptions};
use crate::error::{Error, Result};

static LEVELS: OnceLock<reload::Handle<Targets, Registry>> = OnceLock::new();

/// Installs the process's log output (stderr) with the levels the configuration asks
/// for: `[DEFAULT] debug = true` logs at DEBUG, otherwise INFO. A second call applies
/// the current configuration's levels to the output already installed.
///
/// `#[oslo::main]` calls it once at start; a service calls it again in `reset`:
///
/// ```
/// # async fn reset(cx: &oslo::Context) -> oslo::Result<()> {
/// oslo::log::setup(cx.conf(), "poller")
/// # }
/// ```
///
/// When another global subscriber was installed first, the process keeps that one and
/// this does nothing.
pub fn setup(conf: &Config, program: &str) -> Result<()> {
    let options = RuntimeOptions::read(&conf.snapshot())?;
    let levels = levels(options.debug);
    if let Some(handle) = LEVELS.get() {
        handle
            .reload(levels)
            .map_err(|err| Error::Launch(format!("cannot change log levels: {err}")))?;
        tracing::debug!(program, debug = options.debug, "log levels re-applied");
        return Ok(());
    }
    let (levels, handle) = reload::Layer::new(levels);
    let output = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    if tracing_subscriber::registry()
        .with(levels)
        .with(output)
        .try_init()
        .is_ok()
    {
        // A concurrent first call loses the race to `try_init` above, so this is the
        // only `set`.
        let _ = LEVELS.set(handle);
    }
    Ok(())
}

fn levels(debug: bool) -> Targets {
    let level = if debug {
        LevelFilter::DEBUG
    } else {
        LevelFilter::INFO
    };
    Targets::new().with_default(level)
}
