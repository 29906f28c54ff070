//! Random-number streams (`docs/spec/ENVIRONMENTS.md` §1.6).
//!
//! Each run seed s has three independent ChaCha8 streams, seeded with 1000·s + stream_id:
//! θ(0) initialisation (1), initial states (2) and exploration noise (3). Separate streams keep
//! an environment reset from replaying the exploration noise.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The three random streams of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// θ(0) initialisation (stream_id 1).
    ThetaInit = 1,
    /// Initial states (stream_id 2).
    InitialState = 2,
    /// Exploration noise (stream_id 3).
    Exploration = 3,
}

/// The generator of `stream` for run seed `seed`: ChaCha8 seeded with 1000·seed + stream_id.
pub fn stream(seed: u64, stream: Stream) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(1000 * seed + stream as u64)
}
