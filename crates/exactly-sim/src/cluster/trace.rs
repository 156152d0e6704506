//! The run's trace, folded into one 64-bit FNV-1a hash as it happens: two runs with the
//! same hash processed the same events at the same times with the same contents.

use std::hash::{Hash, Hasher};

/// FNV-1a over everything hashed into it: stable across processes and platforms (unlike
/// the standard library's randomly keyed hasher).
#[derive(Clone, Copy, Debug)]
pub struct TraceHasher(u64);

impl Default for TraceHasher {
    fn default() -> Self {
        TraceHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl TraceHasher {
    /// Folds in one trace entry.
    pub fn record(&mut self, entry: &impl Hash) {
        entry.hash(self);
    }

    /// The hash of everything recorded so far.
    pub fn finish_hash(&self) -> u64 {
        self.0
    }
}

impl Hasher for TraceHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}
