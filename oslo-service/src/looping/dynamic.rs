//! Dynamic interval: oslo.service's `DynamicLoopingCall`.

use std::time::Duration;

use super::call::{Halt, Pacing, RunReport, StartOptions, sealed};

/// The function chooses its next sleep: it returns `ControlFlow::Continue(Some(d))` to
/// sleep `d`, or `ControlFlow::Continue(None)` to sleep `periodic_interval_max`. The
/// sleep is capped by `periodic_interval_max` when set; with no interval and no cap the
/// loop ends with [`LoopingCallError::NoInterval`](super::LoopingCallError::NoInterval).
///
/// After an error logged under `stop_on_exception(false)`, the call sleeps
/// `periodic_interval_max`, or not at all when there is none (as oslo.service, which
/// treats the failed run as asking for a zero sleep).
///
/// ```
/// use std::time::Duration;
/// use oslo::looping::Dynamic;
///
/// let pacing = Dynamic::new().periodic_interval_max(Duration::from_secs(60));
/// # let _ = pacing;
/// ```
#[derive(Clone, Debug, Default)]
pub struct Dynamic {
    periodic_interval_max: Option<Duration>,
    start_options: StartOptions,
}

impl Dynamic {
    /// No cap, no initial delay, errors ending the loop.
    pub fn new() -> Self {
        Self::default()
    }

    /// Caps every sleep at `max`, and sleeps `max` when the function names no interval.
    pub fn periodic_interval_max(mut self, max: Duration) -> Self {
        self.periodic_interval_max = Some(max);
        self
    }

    super::call::start_option_setters!("the loop goes on");
}

impl sealed::Sealed for Dynamic {}

impl Pacing for Dynamic {
    type Continue = Option<Duration>;

    fn kind(&self) -> &'static str {
        "dynamic interval looping call"
    }

    fn start_options(&self) -> StartOptions {
        self.start_options
    }

    fn idle_for(&mut self, run: RunReport<'_, Option<Duration>>) -> Result<Duration, Halt> {
        match (run.outcome, self.periodic_interval_max) {
            (Some(Some(asked)), Some(max)) => Ok(asked.min(max)),
            (Some(Some(asked)), None) => Ok(asked),
            (_, Some(max)) => Ok(max),
            (Some(None), None) => Err(Halt::NoInterval),
            (None, None) => Ok(Duration::ZERO),
        }
    }
}
