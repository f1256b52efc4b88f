//! oslo.service's fork-rate rule: a service whose workers keep dying is restarted at
//! a second or so per worker, instead of spinning the CPU.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How long a service that forks too fast waits before its next fork.
pub(super) const PAUSE: Duration = Duration::from_secs(1);

/// The recent fork times of one service.
#[derive(Debug, Default)]
pub(super) struct ForkRate {
    times: VecDeque<Instant>,
    held_until: Option<Instant>,
}

/// Whether a fork may happen now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Fork now; the time is recorded.
    Fork,
    /// Wait until then; `first` is true the first time this pause is announced.
    Wait { until: Instant, first: bool },
}

impl ForkRate {
    /// More than `workers` recent forks, the oldest less than `workers` seconds ago:
    /// pause for a second, then fork.
    pub(super) fn check(&mut self, workers: usize, now: Instant) -> Verdict {
        if let Some(until) = self.held_until {
            if now < until {
                return Verdict::Wait {
                    until,
                    first: false,
                };
            }
            self.held_until = None;
            self.times.pop_front();
        } else if self.times.len() > workers {
            let window = Duration::from_secs(workers as u64);
            if self
                .times
                .front()
                .is_some_and(|&oldest| now.saturating_duration_since(oldest) < window)
            {
                let until = now + PAUSE;
                self.held_until = Some(until);
                return Verdict::Wait { until, first: true };
            }
            self.times.pop_front();
        }
        self.times.push_back(now);
        Verdict::Fork
    }

    /// Pauses the next fork until `until`, as after a fork that failed.
    pub(super) fn hold(&mut self, until: Instant) {
        self.held_until = Some(until);
    }

    /// When a paused service may fork again.
    pub(super) fn held_until(&self) -> Option<Instant> {
        self.held_until
    }

    /// Forgets the history: a reload starts a whole new set of workers at once.
    pub(super) fn reset(&mut self) {
        self.times.clear();
        self.held_until = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_batch_and_one_replacement_fork_at_once() {
        let mut rate = ForkRate::default();
        let now = Instant::now();
        for _ in 0..3 {
            assert_eq!(rate.check(2, now), Verdict::Fork);
        }
    }

    #[test]
    fn a_crash_loop_forks_about_once_a_second() {
        let mut rate = ForkRate::default();
        let start = Instant::now();
        let mut now = start;
        let mut forks = 0;
        let mut pauses = 0;
        // Workers that die at once: the supervisor asks again as soon as it may.
        while now < start + Duration::from_secs(10) {
            match rate.check(2, now) {
                Verdict::Fork => forks += 1,
                Verdict::Wait { until, first } => {
                    pauses += usize::from(first);
                    now = until;
                }
            }
        }
        // oslo's rule lets `workers + 1` forks through per `workers` seconds.
        assert!((12..=18).contains(&forks), "{forks} forks in 10 s");
        assert!(pauses >= 8, "{pauses} pauses");
    }

    #[test]
    fn forks_spread_over_the_window_need_no_pause() {
        let mut rate = ForkRate::default();
        let start = Instant::now();
        for i in 0..20 {
            let now = start + Duration::from_secs(2 * i);
            assert_eq!(rate.check(2, now), Verdict::Fork, "fork {i}");
        }
    }
}
