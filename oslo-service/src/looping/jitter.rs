//! Randomness for the back-off jitter, injectable so tests can seed it.
//!
//! A whole random-number crate would be more than the jitter needs: one 64-bit
//! generator and a Box-Muller transform give the gaussian draws oslo.service takes
//! from Python's `random.gauss`.

use std::f64::consts::TAU;
use std::fmt::Debug;
use std::hash::{BuildHasher, RandomState};

/// A source of uniformly distributed 64-bit numbers. [`BackOff`](super::BackOff) draws
/// its jitter from one; give it a seeded [`SplitMix64`] to make the sleeps reproducible.
pub trait RandomSource: Debug + Send + 'static {
    /// The next number; every bit should be equally likely to be set.
    fn next_u64(&mut self) -> u64;
}

/// The SplitMix64 generator: tiny, fast and good enough for spreading out retries
/// (not for anything secret).
///
/// ```
/// use oslo::looping::{RandomSource, SplitMix64};
///
/// let mut a = SplitMix64::seeded(7);
/// let mut b = SplitMix64::seeded(7);
/// assert_eq!(a.next_u64(), b.next_u64());
/// ```
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator whose draws depend only on `seed`.
    pub fn seeded(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// A generator seeded from the process's hash randomness, different in each run.
    pub fn from_entropy() -> Self {
        Self::seeded(RandomState::new().hash_one(0x5eed_u64))
    }
}

impl RandomSource for SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// A uniform draw in `[0, 1)`, from the top 53 bits (an `f64`'s precision).
fn unit_interval(rng: &mut dyn RandomSource) -> f64 {
    const SCALE: f64 = 1.0 / (1u64 << 53) as f64;
    (rng.next_u64() >> 11) as f64 * SCALE
}

/// A normal draw with the given mean and standard deviation (Box-Muller).
pub(crate) fn gauss(rng: &mut dyn RandomSource, mean: f64, std_dev: f64) -> f64 {
    // 1 - u lies in (0, 1], so the logarithm stays finite.
    let radius = (-2.0 * (1.0 - unit_interval(rng)).ln()).sqrt();
    let angle = TAU * unit_interval(rng);
    mean + std_dev * radius * angle.cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_draws_stay_in_range() {
        let mut rng = SplitMix64::seeded(1);
        for _ in 0..10_000 {
            let draw = unit_interval(&mut rng);
            assert!((0.0..1.0).contains(&draw), "{draw}");
        }
    }

    #[test]
    fn gaussian_draws_have_the_asked_mean_and_spread() {
        let mut rng = SplitMix64::seeded(42);
        let draws: Vec<f64> = (0..20_000).map(|_| gauss(&mut rng, 0.75, 0.25)).collect();
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        let variance = draws.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / draws.len() as f64;
        assert!((mean - 0.75).abs() < 0.01, "mean {mean}");
        assert!(
            (variance.sqrt() - 0.25).abs() < 0.01,
            "std dev {}",
            variance.sqrt()
        );
    }

    #[test]
    fn same_seed_same_draws_other_seed_other_draws() {
        let draw = |seed| {
            let mut rng = SplitMix64::seeded(seed);
            (0..4).map(|_| rng.next_u64()).collect::<Vec<_>>()
        };
        assert_eq!(draw(3), draw(3));
        assert_ne!(draw(3), draw(4));
    }
}
