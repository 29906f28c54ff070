//! MT19937, bit-compatible with numpy's legacy `RandomState` (`docs/spec/ENVIRONMENTS.md` §7.8).
//!
//! Only the draws the scenario generator needs: seeding with a 32-bit integer (numpy's
//! `mt19937_seed`, i.e. `init_genrand`), tempered 32-bit outputs, 53-bit doubles, `uniform` and
//! `choice([0, 1])`.

const N: usize = 624;
const M: usize = 397;
const MATRIX_A: u32 = 0x9908_B0DF;
const UPPER_MASK: u32 = 0x8000_0000;
const LOWER_MASK: u32 = 0x7FFF_FFFF;

/// The MT19937 generator: 624 words of state and an index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mt19937 {
    mt: [u32; N],
    index: usize,
}

impl Mt19937 {
    /// Seed with a 32-bit integer: `mt[0] = s`, `mt[i] = 1812433253·(mt[i−1] ⊕ (mt[i−1] ≫ 30)) + i`;
    /// the first draw then performs a full twist.
    pub fn new(seed: u32) -> Self {
        let mut mt = [0u32; N];
        mt[0] = seed;
        for i in 1..N {
            let prev = mt[i - 1];
            mt[i] = 1_812_433_253u32
                .wrapping_mul(prev ^ (prev >> 30))
                .wrapping_add(i as u32);
        }
        Self { mt, index: N }
    }

    fn twist(&mut self) {
        for i in 0..N {
            let y = (self.mt[i] & UPPER_MASK) | (self.mt[(i + 1) % N] & LOWER_MASK);
            let mag = if y & 1 == 1 { MATRIX_A } else { 0 };
            self.mt[i] = self.mt[(i + M) % N] ^ (y >> 1) ^ mag;
        }
        self.index = 0;
    }

    /// One tempered 32-bit output.
    pub fn next_u32(&mut self) -> u32 {
        if self.index >= N {
            self.twist();
        }
        let mut y = self.mt[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9D2C_5680;
        y ^= (y << 15) & 0xEFC6_0000;
        y ^= y >> 18;
        y
    }

    /// A double in [0, 1): a = next_u32() ≫ 5, then b = next_u32() ≫ 6, (a·2²⁶ + b) / 2⁵³.
    pub fn next_double(&mut self) -> f64 {
        let a = f64::from(self.next_u32() >> 5);
        let b = f64::from(self.next_u32() >> 6);
        (a * 67_108_864.0 + b) / 9_007_199_254_740_992.0
    }

    /// numpy's `uniform(lo, hi)` = lo + (hi − lo)·next_double(), in that operation order.
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        let range = hi - lo;
        lo + range * self.next_double()
    }

    /// numpy's legacy `choice([0, 1])`: masked rejection with mask 1, which never rejects and
    /// consumes exactly one u32.
    pub fn choice01(&mut self) -> u32 {
        self.next_u32() & 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_vectors() {
        assert_eq!(Mt19937::new(5489).next_u32(), 3_499_211_612);
        let mut g = Mt19937::new(0);
        let first: Vec<u32> = (0..5).map(|_| g.next_u32()).collect();
        assert_eq!(
            first,
            [2357136044, 2546248239, 3071714933, 3626093760, 2588848963]
        );
        let mut g = Mt19937::new(0);
        assert_eq!(g.next_double(), 0.5488135039273248);
        assert_eq!(g.next_double(), 0.7151893663724195);
    }

    #[test]
    fn second_twist_is_consistent() {
        // Crossing the 624-word boundary must not panic and must keep producing output.
        let mut g = Mt19937::new(42);
        let mut x = 0u32;
        for _ in 0..2000 {
            x ^= g.next_u32();
        }
        assert_ne!(x, 0);
    }
}
