//! Reproducible random streams: one independent stream per (run seed, key), so the result for
//! an image depends on the seed and the image's name only, never on thread scheduling or on
//! which other images share the batch.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The generator of every per-item stream (ChaCha8: fast, portable, reproducible).
pub type StreamRng = ChaCha8Rng;

/// Mixes a run seed with a key (a file name, or an (epoch, index) pair as bytes) into the seed
/// of an independent stream. Stable across platforms and releases: FNV-1a over the key, then
/// SplitMix64 finalisation with the run seed.
pub fn stream_seed(seed: u64, key: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in key {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    splitmix64(seed ^ splitmix64(hash))
}

/// The stream for `(seed, key)`.
pub fn stream_rng(seed: u64, key: &[u8]) -> StreamRng {
    StreamRng::seed_from_u64(stream_seed(seed, key))
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
