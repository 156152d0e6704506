//! A worker machine's monotonic clock: an offset and a rate that differs from true time
//! (the store's clock) by a fixed number of parts per million.

/// `local(t) = offset_ms + t + ⌊t × rate_ppm / 10⁶⌋` for true time `t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DriftClock {
    /// Local reading at true time 0.
    pub offset_ms: u64,
    /// Rate difference from true time, in ppm: −10 000 runs 1 % slow.
    pub rate_ppm: i64,
}

const PPM: i128 = 1_000_000;

impl DriftClock {
    /// A clock with this offset and rate.
    ///
    /// # Panics
    /// When `rate_ppm ≤ −10⁶`: such a clock would stand still or run backwards, which no
    /// monotonic clock does — a simulator configuration error.
    pub fn new(offset_ms: u64, rate_ppm: i64) -> Self {
        assert!(
            i128::from(rate_ppm) > -PPM,
            "a clock rate must stay positive"
        );
        DriftClock {
            offset_ms,
            rate_ppm,
        }
    }

    /// The local reading at true time `true_ms`.
    pub fn local_at(&self, true_ms: u64) -> u64 {
        let t = i128::from(true_ms);
        let local =
            i128::from(self.offset_ms) + t + (t * i128::from(self.rate_ppm)).div_euclid(PPM);
        // A positive rate keeps the reading at or above the offset.
        u64::try_from(local.max(0)).unwrap_or(u64::MAX)
    }

    /// The first true time at which the local reading is at least `local_ms`.
    pub fn true_at(&self, local_ms: u64) -> u64 {
        if local_ms <= self.offset_ms {
            return 0;
        }
        let elapsed = i128::from(local_ms - self.offset_ms);
        let estimate = elapsed * PPM / (PPM + i128::from(self.rate_ppm));
        let mut t = u64::try_from(estimate.max(0)).unwrap_or(u64::MAX);
        // The estimate is within a millisecond or two; step to the exact first instant.
        while self.local_at(t) < local_ms {
            t += 1;
        }
        while t > 0 && self.local_at(t - 1) >= local_ms {
            t -= 1;
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn true_at_inverts_local_at() {
        for rate_ppm in [-500_000, -10_000, 0, 10_000, 300_000] {
            let clock = DriftClock::new(12_345, rate_ppm);
            for local in [12_346, 13_000, 99_999, 1_000_000] {
                let t = clock.true_at(local);
                assert!(clock.local_at(t) >= local);
                assert!(t == 0 || clock.local_at(t - 1) < local);
            }
        }
    }
}
