//! Fixed interval: oslo.service's `FixedIntervalLoopingCall`.

use std::time::Duration;

use super::call::{Halt, Pacing, RunReport, StartOptions, sealed};

/// Runs the function every `interval`, measured from the start of one run to the start
/// of the next: the call sleeps the interval minus the run's duration. A run that
/// outlasts the interval logs "`function <name> run outlasted interval by <x> sec`" and
/// the next run starts at once.
///
/// ```
/// use std::time::Duration;
/// use oslo::looping::FixedInterval;
///
/// let pacing = FixedInterval::every(Duration::from_secs(60))
///     .initial_delay(Duration::from_secs(5))
///     .stop_on_exception(false);
/// # let _ = pacing;
/// ```
#[derive(Clone, Debug)]
pub struct FixedInterval {
    pub(super) interval: Duration,
    pub(super) start_options: StartOptions,
}

impl FixedInterval {
    /// A run every `interval`, the first at once, errors ending the loop.
    pub fn every(interval: Duration) -> Self {
        FixedInterval {
            interval,
            start_options: StartOptions::default(),
        }
    }

    super::call::start_option_setters!("the loop goes on");

    /// The sleep after a run of `elapsed`, warning when the run outlasted the interval.
    pub(super) fn idle_after(&self, elapsed: Duration, name: &str) -> Duration {
        match elapsed.checked_sub(self.interval) {
            Some(overrun) => {
                // As oslo.service does, overruns are rounded to hundredths of a second,
                // so an overrun too small to show in the message is not reported.
                let shown = (overrun.as_secs_f64() * 100.0).round() / 100.0;
                if shown > 0.0 {
                    tracing::warn!(
                        function = name,
                        overrun_secs = shown,
                        "function run outlasted interval"
                    );
                }
                Duration::ZERO
            }
            None => self.interval - elapsed,
        }
    }
}

impl sealed::Sealed for FixedInterval {}

impl Pacing for FixedInterval {
    type Continue = ();

    fn kind(&self) -> &'static str {
        "fixed interval looping call"
    }

    fn start_options(&self) -> StartOptions {
        self.start_options
    }

    fn idle_for(&mut self, run: RunReport<'_, ()>) -> Result<Duration, Halt> {
        Ok(self.idle_after(run.elapsed, run.name))
    }
}
