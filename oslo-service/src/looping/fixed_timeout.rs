//! Fixed interval with a timeout: oslo.service's `FixedIntervalWithTimeoutLoopingCall`.

use std::time::Duration;

use super::call::{Halt, Pacing, RunReport, StartOptions, sealed};
use super::fixed::FixedInterval;

/// A [`FixedInterval`] that ends with
/// [`LoopingCallError::TimedOut`](super::LoopingCallError::TimedOut) ("`looping call
/// timed out after <x> seconds`") when a run ends past `timeout` after the start. A zero
/// timeout never expires.
///
/// ```
/// use std::time::Duration;
/// use oslo::looping::FixedInterval;
///
/// let pacing = FixedInterval::every(Duration::from_secs(1)).timeout(Duration::from_secs(30));
/// # let _ = pacing;
/// ```
#[derive(Clone, Debug)]
pub struct FixedIntervalWithTimeout {
    fixed: FixedInterval,
    timeout: Duration,
}

impl FixedIntervalWithTimeout {
    /// `fixed`, ending once `timeout` has passed.
    pub fn new(fixed: FixedInterval, timeout: Duration) -> Self {
        FixedIntervalWithTimeout { fixed, timeout }
    }
}

// Here rather than beside `FixedInterval`, so that `fixed` does not import this module.
impl FixedInterval {
    /// The same, ending with [`LoopingCallError::TimedOut`](super::LoopingCallError::TimedOut)
    /// once `timeout` has passed since the start.
    pub fn timeout(self, timeout: Duration) -> FixedIntervalWithTimeout {
        FixedIntervalWithTimeout::new(self, timeout)
    }
}

impl sealed::Sealed for FixedIntervalWithTimeout {}

impl Pacing for FixedIntervalWithTimeout {
    type Continue = ();

    fn kind(&self) -> &'static str {
        "fixed interval looping call with timeout checking"
    }

    fn start_options(&self) -> StartOptions {
        self.fixed.start_options
    }

    fn idle_for(&mut self, run: RunReport<'_, ()>) -> Result<Duration, Halt> {
        let idle = self.fixed.idle_after(run.elapsed, run.name);
        if !self.timeout.is_zero() && run.since_start > self.timeout {
            return Err(Halt::TimedOut(run.since_start));
        }
        Ok(idle)
    }
}
