//! Seeded randomness whose stream is the same on every platform.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The random stream every engine draws from.
///
/// ChaCha8 is specified bit for bit, so a seed gives the same numbers natively
/// and in WebAssembly, and across versions of `rand_chacha` 0.9.
#[derive(Debug, Clone)]
pub struct SimRng(ChaCha8Rng);

impl SimRng {
    /// Creates the stream for `seed`.
    pub fn new(seed: u64) -> Self {
        Self(ChaCha8Rng::seed_from_u64(seed))
    }

    /// Draws a uniform value in `[0, 1)`.
    pub fn uniform(&mut self) -> f64 {
        self.0.random::<f64>()
    }

    /// Draws a uniform whole number in `0..n`; `n` must be positive.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0.random_range(0..n)
    }

    /// Draws an exponentially distributed value with the given mean.
    ///
    /// Uses `libm::log` instead of `f64::ln`, whose last bit may differ between
    /// the platform's C library and the WebAssembly build.
    pub fn exponential(&mut self, mean: f64) -> f64 {
        // 1 - u lies in (0, 1], so the logarithm is finite.
        let u = 1.0 - self.uniform();
        -mean * libm::log(u)
    }
}
