//! The generator's randomness: seeds derived per stream and item (so conversation `i` depends
//! only on the seed and `i`), collision-free ids, and the small sampling helpers.

use rand::{Rng, RngCore};

pub(super) const CONVERSATION: u64 = 0x636f_6e76;
pub(super) const IDS: u64 = 0x6964_7331;
pub(super) const SESSION: u64 = 0x7365_7373;
pub(super) const BOT: u64 = 0x626f_7473;
pub(super) const ONCE: u64 = 0x6f6e_6365;
pub(super) const REGULAR: u64 = 0x7265_6775;

/// SplitMix64's finaliser: a bijection on `u64` that scatters neighbouring inputs.
pub(super) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A seed for item `i` of a stream: distinct `i` give distinct values (a bijection of `i`).
pub(super) fn hash(seed: u64, stream: u64, i: u64) -> u64 {
    mix(mix(seed ^ mix(stream)).wrapping_add(i))
}

/// A UUID-shaped id whose last 64 bits are a bijection of `i`, so ids never collide.
pub(super) fn conversation_id(seed: u64, i: usize) -> String {
    let a = hash(seed, IDS, i as u64);
    let b = mix(a ^ IDS);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        b >> 32,
        (b >> 16) & 0xffff,
        (b & 0x0fff) | 0x4000,
        a >> 48,
        a & 0xffff_ffff_ffff
    )
}

/// A cheap generator for the fixed traits of a bot or a user (SplitMix64).
pub(super) struct Traits(pub(super) u64);

impl RngCore for Traits {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for chunk in dst.chunks_mut(8) {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes()[..chunk.len()]);
        }
    }
}

pub(super) fn pick<T: Copy>(rng: &mut impl Rng, items: &[T]) -> T {
    items[rng.random_range(0..items.len())]
}

/// An index into `weights`, in proportion to them.
pub(super) fn weighted(rng: &mut impl Rng, weights: &[u32]) -> usize {
    let mut x = rng.random_range(0..weights.iter().sum::<u32>());
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    0
}

pub(super) fn exponential(rng: &mut impl Rng, mean: f64) -> f64 {
    -(1.0 - rng.random::<f64>()).ln() * mean
}
