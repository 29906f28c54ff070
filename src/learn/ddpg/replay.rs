//! The replay buffer of one agent (`docs/spec/ALGORITHMS.md` §12.1): transitions
//! (v_t, q_t, q_{t−1}, r, v_{t+1}, done), first in first out beyond the capacity, and
//! mini-batches drawn **without replacement**.

use rand::seq::index;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// One stored transition of one bus.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    /// Voltage magnitude v_t before the action [p.u.].
    pub v: f64,
    /// Cumulative set-point q_t after the action (the critic's action) \[MVar\].
    pub q: f64,
    /// Previous set-point q_{t−1} (the actor's input) \[MVar\].
    pub q_prev: f64,
    /// Local reward r = −(½ C q_t² + ½ q_t (v_{t+1}² + v₀² − 2)).
    pub r: f64,
    /// Voltage magnitude v_{t+1} after the action [p.u.].
    pub v_next: f64,
    /// All voltages inside the band after the action (terminal).
    pub done: bool,
}

/// A bounded FIFO of transitions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplayBuffer {
    /// Maximum number of transitions.
    pub capacity: usize,
    /// Stored transitions (oldest first once full: ring order from `head`).
    pub data: Vec<Transition>,
    /// Next slot to overwrite once full.
    pub head: usize,
}

impl ReplayBuffer {
    /// An empty buffer of `capacity` ≥ 1 transitions.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            data: Vec::new(),
            head: 0,
        }
    }

    /// Number of stored transitions.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Store `t`, overwriting the oldest transition when full.
    pub fn push(&mut self, t: Transition) {
        if self.data.len() < self.capacity {
            self.data.push(t);
        } else {
            self.data[self.head] = t;
            self.head = (self.head + 1) % self.capacity;
        }
    }

    /// `batch` distinct indices drawn uniformly (requires `batch` ≤ len), in draw order.
    pub fn sample_indices<R: Rng>(&self, batch: usize, rng: &mut R) -> Vec<usize> {
        index::sample(rng, self.data.len(), batch.min(self.data.len())).into_vec()
    }
}
