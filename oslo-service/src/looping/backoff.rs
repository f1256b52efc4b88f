//! Back-off: oslo.service's `BackOffLoopingCall`.

use std::time::Duration;

use super::call::{Halt, Pacing, RunReport, StartOptions, sealed};
use super::jitter::{RandomSource, SplitMix64, gauss};

/// Standard deviation of the jitter factor, as in oslo.service.
const JITTER_STD_DEV: f64 = 0.25;

/// Backs off while the function fails. The function returns
/// `ControlFlow::Continue(true)` after a success and `ControlFlow::Continue(false)`
/// after a failure (an error under `stop_on_exception(false)` counts as a failure).
///
/// Each sleep is multiplied by a random factor `|N(jitter, 0.25)|`. After a success the
/// call sleeps `starting_interval` times that factor and forgets past failures. After a
/// failure the interval doubles: the sleep is `2 × interval × factor`, kept within
/// `min_interval..=max_interval`, and the interval grows to `2 × interval × jitter`
/// (at least `min_interval`). When the sleeps spent failing in a row would pass
/// `timeout`, the loop ends with
/// [`LoopingCallError::TimedOut`](super::LoopingCallError::TimedOut).
///
/// Defaults are oslo.service's: starting_interval 1 s, timeout 300 s, max_interval
/// 300 s, jitter 0.75, min_interval 1 ms. The random factor comes from
/// [`BackOff::with_rng`]'s source, by default one seeded anew in each process.
///
/// ```
/// use std::time::Duration;
/// use oslo::looping::{BackOff, SplitMix64};
///
/// let pacing = BackOff::new()
///     .starting_interval(Duration::from_millis(500))
///     .max_interval(Duration::from_secs(30))
///     .timeout(Duration::from_secs(120))
///     .with_rng(SplitMix64::seeded(1));
/// # let _ = pacing;
/// ```
#[derive(Debug)]
pub struct BackOff {
    start_options: StartOptions,
    starting_interval: f64,
    timeout: Option<f64>,
    max_interval: f64,
    jitter: f64,
    min_interval: f64,
    rng: Box<dyn RandomSource>,
    /// The interval the next failure doubles, in seconds.
    interval: f64,
    /// Seconds slept since the last success.
    error_time: f64,
}

impl Default for BackOff {
    fn default() -> Self {
        BackOff {
            start_options: StartOptions::default(),
            starting_interval: 1.0,
            timeout: Some(300.0),
            max_interval: 300.0,
            jitter: 0.75,
            min_interval: 0.001,
            rng: Box::new(SplitMix64::from_entropy()),
            interval: 1.0,
            error_time: 0.0,
        }
    }
}

impl BackOff {
    /// oslo.service's defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// The sleep after a success, before jitter, and where backing off starts.
    pub fn starting_interval(mut self, interval: Duration) -> Self {
        self.starting_interval = interval.as_secs_f64();
        self.interval = self.starting_interval;
        self
    }

    /// The longest time the call may spend failing in a row; `Duration::ZERO` never
    /// times out.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = (!timeout.is_zero()).then_some(timeout.as_secs_f64());
        self
    }

    /// The longest sleep after a failure.
    pub fn max_interval(mut self, max: Duration) -> Self {
        self.max_interval = max.as_secs_f64();
        self
    }

    /// The shortest sleep after a failure.
    pub fn min_interval(mut self, min: Duration) -> Self {
        self.min_interval = min.as_secs_f64();
        self
    }

    /// The mean of the random factor applied to every sleep.
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter;
        self
    }

    /// Draws the random factor from `rng`; seed one to make the sleeps reproducible.
    pub fn with_rng(mut self, rng: impl RandomSource) -> Self {
        self.rng = Box::new(rng);
        self
    }

    super::call::start_option_setters!("counts as a failure");

    /// The sleep, in seconds, after a run that succeeded or not.
    fn next_idle(&mut self, success: bool) -> Result<f64, Halt> {
        let factor = gauss(self.rng.as_mut(), self.jitter, JITTER_STD_DEV).abs();
        if success {
            self.interval = self.starting_interval;
            self.error_time = 0.0;
            return Ok(self.interval * factor);
        }
        let idle = (self.interval * 2.0 * factor)
            .max(self.min_interval)
            .min(self.max_interval);
        // The mean, not the draw, sets the next interval, so the back-off grows at the
        // asked rate whatever the luck of the draws.
        self.interval = (self.interval * 2.0 * self.jitter).max(self.min_interval);
        if let Some(timeout) = self.timeout {
            if self.error_time + idle > timeout {
                return Err(Halt::TimedOut(seconds(self.error_time + idle)));
            }
        }
        self.error_time += idle;
        Ok(idle)
    }
}

/// Seconds as a duration; NaN and negatives become zero, overflows the longest one.
fn seconds(secs: f64) -> Duration {
    if secs.is_nan() || secs <= 0.0 {
        return Duration::ZERO;
    }
    Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)
}

impl sealed::Sealed for BackOff {}

impl Pacing for BackOff {
    type Continue = bool;

    fn kind(&self) -> &'static str {
        "dynamic backoff interval looping call"
    }

    fn start_options(&self) -> StartOptions {
        self.start_options
    }

    fn idle_for(&mut self, run: RunReport<'_, bool>) -> Result<Duration, Halt> {
        self.next_idle(run.outcome.unwrap_or(false)).map(seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seeded() -> BackOff {
        BackOff::new().with_rng(SplitMix64::seeded(11))
    }

    #[test]
    fn success_sleeps_jittered_starting_interval() {
        let mut back_off = seeded().starting_interval(Duration::from_secs(2));
        let sleeps: Vec<f64> = (0..5000)
            .map(|_| back_off.next_idle(true).unwrap())
            .collect();
        let mean = sleeps.iter().sum::<f64>() / sleeps.len() as f64;
        assert!(sleeps.iter().all(|s| *s >= 0.0));
        // The factor is |N(0.75, 0.25)|, whose mean is about 0.75.
        assert!((mean - 1.5).abs() < 0.05, "mean sleep {mean}");
        assert!(sleeps.iter().any(|s| *s > 2.0) && sleeps.iter().any(|s| *s < 1.0));
    }

    #[test]
    fn failures_double_with_jitter_one() {
        let mut back_off = seeded().jitter(1.0).timeout(Duration::ZERO);
        // With a mean factor of 1 the interval doubles exactly; draws scatter around it.
        let means: Vec<f64> = (0..6)
            .map(|_| {
                let _ = back_off.next_idle(false).unwrap();
                back_off.interval
            })
            .collect();
        assert_eq!(means, [2.0, 4.0, 8.0, 16.0, 32.0, 64.0]);
    }

    #[test]
    fn failure_sleeps_stay_within_bounds() {
        let mut back_off = seeded()
            .min_interval(Duration::from_millis(500))
            .max_interval(Duration::from_secs(10))
            .timeout(Duration::ZERO);
        for _ in 0..5000 {
            let idle = back_off.next_idle(false).unwrap();
            assert!((0.5..=10.0).contains(&idle), "{idle}");
        }
    }

    #[test]
    fn success_resets_interval_and_failing_time() {
        let mut back_off = seeded().jitter(1.0);
        for _ in 0..4 {
            back_off.next_idle(false).unwrap();
        }
        assert!(back_off.error_time > 0.0);
        back_off.next_idle(true).unwrap();
        assert_eq!((back_off.interval, back_off.error_time), (1.0, 0.0));
    }

    #[test]
    fn failing_past_timeout_halts() {
        let mut back_off = seeded().timeout(Duration::from_secs(20));
        let mut slept = 0.0;
        let halt = loop {
            match back_off.next_idle(false) {
                Ok(idle) => slept += idle,
                Err(halt) => break halt,
            }
        };
        assert!(slept <= 20.0);
        let Halt::TimedOut(after) = halt else {
            panic!("expected a timeout, got {halt:?}")
        };
        assert!(after.as_secs_f64() > 20.0);
    }

    #[test]
    fn odd_durations_do_not_panic() {
        assert_eq!(seconds(f64::NAN), Duration::ZERO);
        assert_eq!(seconds(-1.0), Duration::ZERO);
        assert_eq!(seconds(f64::INFINITY), Duration::MAX);
    }
}
