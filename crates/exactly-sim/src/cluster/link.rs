//! One worker's link to the store: each message is independently lost, duplicated,
//! held back (so later ones overtake it) and delayed; a partitioned link drops
//! everything sent while it lasts.

use rand::rngs::SmallRng;
use rand::Rng;

/// Faults and timing of a worker's link (both directions alike).
#[derive(Clone, Debug, PartialEq)]
pub struct LinkFaults {
    /// Probability a message is lost.
    pub loss: f64,
    /// Probability a message is delivered twice.
    pub dup: f64,
    /// Probability a message is held back by up to `reorder_delay_ms` extra.
    pub reorder: f64,
    /// Base one-way delay.
    pub delay_ms: u64,
    /// Uniform extra delay `0..=jitter_ms`.
    pub jitter_ms: u64,
    /// Largest extra delay of a held-back message.
    pub reorder_delay_ms: u64,
}

impl LinkFaults {
    /// A link that only delays, by 1–3 ms.
    pub fn perfect() -> Self {
        LinkFaults {
            loss: 0.0,
            dup: 0.0,
            reorder: 0.0,
            delay_ms: 1,
            jitter_ms: 2,
            reorder_delay_ms: 0,
        }
    }

    /// 20 % loss, 10 % duplication, 20 % reordering by up to 800 ms (longer than the
    /// retry interval, so late answers arrive after their request was given up), 2–50 ms
    /// delays.
    pub fn hostile() -> Self {
        LinkFaults {
            loss: 0.2,
            dup: 0.1,
            reorder: 0.2,
            delay_ms: 2,
            jitter_ms: 48,
            reorder_delay_ms: 800,
        }
    }

    /// The delivery delays of one message sent now: none if lost, two if duplicated.
    pub fn delays_ms(&self, rng: &mut SmallRng) -> Vec<u64> {
        if rng.random_bool(self.loss) {
            return Vec::new();
        }
        let copies = if rng.random_bool(self.dup) { 2 } else { 1 };
        (0..copies).map(|_| self.one_delay_ms(rng)).collect()
    }

    fn one_delay_ms(&self, rng: &mut SmallRng) -> u64 {
        let mut delay_ms = self.delay_ms + rng.random_range(0..=self.jitter_ms);
        if rng.random_bool(self.reorder) {
            delay_ms += rng.random_range(0..=self.reorder_delay_ms);
        }
        delay_ms
    }
}
