//! Meters: reliability `R = unique / sent` and uniqueness rate
//! `UR = unique / received`, the delivery mode they imply, and their composition along a
//! pipeline (both multiply).

use std::fmt;

/// The four delivery modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryMode {
    /// `R < 1` and `UR < 1`: messages lost and duplicated.
    Unreliable,
    /// `R < 1`, `UR = 1`: nothing duplicated, something lost.
    AtMostOnce,
    /// `R = 1`, `UR < 1`: nothing lost, something duplicated.
    AtLeastOnce,
    /// `R = 1`, `UR = 1`.
    ExactlyOnce,
}

impl DeliveryMode {
    /// The mode of `{r, ur}`; a value counts as 1 when it is within `1e-12` of it.
    pub fn of(r: f64, ur: f64) -> Self {
        let one = |x: f64| x >= 1.0 - 1e-12;
        match (one(r), one(ur)) {
            (true, true) => DeliveryMode::ExactlyOnce,
            (true, false) => DeliveryMode::AtLeastOnce,
            (false, true) => DeliveryMode::AtMostOnce,
            (false, false) => DeliveryMode::Unreliable,
        }
    }

    /// The mode's name, as printed by the CLI.
    pub fn name(self) -> &'static str {
        match self {
            DeliveryMode::Unreliable => "unreliable",
            DeliveryMode::AtMostOnce => "at-most-once",
            DeliveryMode::AtLeastOnce => "at-least-once",
            DeliveryMode::ExactlyOnce => "exactly-once",
        }
    }
}

impl fmt::Display for DeliveryMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Reliability and uniqueness rate of a delivery.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reliability {
    /// `R = unique received / sent`.
    pub r: f64,
    /// `UR = unique received / received`.
    pub ur: f64,
}

impl Reliability {
    /// A perfect delivery (the identity of [`Reliability::then`]).
    pub const PERFECT: Reliability = Reliability { r: 1.0, ur: 1.0 };

    /// The delivery mode implied by `{R, UR}`.
    pub fn mode(self) -> DeliveryMode {
        DeliveryMode::of(self.r, self.ur)
    }

    /// This delivery followed by `next`: R and UR multiply.
    pub fn then(self, next: Reliability) -> Reliability {
        Reliability {
            r: self.r * next.r,
            ur: self.ur * next.ur,
        }
    }

    /// A pipeline of deliveries, composed left to right.
    pub fn compose(hops: impl IntoIterator<Item = Reliability>) -> Reliability {
        hops.into_iter()
            .fold(Reliability::PERFECT, Reliability::then)
    }
}

/// Counts of one delivery (one hop, or one end to end): sent S, received, unique received.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HopMeter {
    /// Messages sent into the delivery: S.
    pub sent: u64,
    /// Messages that came out, duplicates included.
    pub received: u64,
    /// Distinct sent messages that came out.
    pub unique: u64,
}

impl HopMeter {
    /// Counts one message sent.
    pub fn record_sent(&mut self) {
        self.sent += 1;
    }

    /// Counts one message received; `first_time` says whether it had not been received
    /// before (the caller knows: a de-dup set, or the simulator's auditor).
    pub fn record_received(&mut self, first_time: bool) {
        self.received += 1;
        self.unique += u64::from(first_time);
        debug_assert!(self.unique <= self.received);
    }

    /// `R` and `UR`. An empty delivery (nothing sent) counts as perfect; nothing received
    /// counts `UR = 1` (no duplicate was seen).
    pub fn reliability(&self) -> Reliability {
        let ratio = |n: u64, d: u64| if d == 0 { 1.0 } else { n as f64 / d as f64 };
        Reliability {
            r: ratio(self.unique, self.sent),
            ur: ratio(self.unique, self.received),
        }
    }

    /// The delivery mode, decided on exact counts (not floating point).
    pub fn mode(&self) -> DeliveryMode {
        let r_one = self.unique == self.sent;
        let ur_one = self.unique == self.received;
        DeliveryMode::of(f64::from(u8::from(r_one)), f64::from(u8::from(ur_one)))
    }
}

/// Tracks which message ids `0..n` were seen, for counting unique receptions (the
/// simulator's auditor). One bit per id.
#[derive(Clone, Debug, Default)]
pub struct SeenSet {
    words: Vec<u64>,
}

impl SeenSet {
    /// An empty set sized for ids below `n` (it grows if needed).
    pub fn with_capacity(n: u64) -> Self {
        let words = match usize::try_from(n.div_ceil(64)) {
            Ok(words) => vec![0; words],
            // Only a capacity hint: the set grows on demand, so an unrepresentable size
            // starts empty.
            Err(_) => Vec::new(),
        };
        SeenSet { words }
    }

    /// Marks `id` seen; returns whether it was new.
    pub fn insert(&mut self, id: u64) -> bool {
        let Ok(word) = usize::try_from(id / 64) else {
            return false;
        };
        if word >= self.words.len() {
            self.words.resize(word + 1, 0);
        }
        let bit = 1u64 << (id % 64);
        match self.words.get_mut(word) {
            Some(w) if *w & bit == 0 => {
                *w |= bit;
                true
            }
            _ => false,
        }
    }

    /// Whether `id` was seen.
    pub fn contains(&self, id: u64) -> bool {
        usize::try_from(id / 64)
            .ok()
            .and_then(|w| self.words.get(w))
            .is_some_and(|w| w & (1u64 << (id % 64)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_composition_rules_hold() {
        let amo = Reliability { r: 0.9, ur: 1.0 };
        let alo = Reliability { r: 1.0, ur: 0.8 };
        assert_eq!(amo.then(alo).mode(), DeliveryMode::Unreliable);
        assert_eq!(
            Reliability::PERFECT.then(alo).mode(),
            DeliveryMode::AtLeastOnce
        );
        assert_eq!(
            Reliability::PERFECT.then(amo).mode(),
            DeliveryMode::AtMostOnce
        );
        let bad = Reliability { r: 0.9, ur: 0.9 };
        assert_eq!(
            bad.then(Reliability::PERFECT).mode(),
            DeliveryMode::Unreliable
        );
        let c = Reliability::compose([amo, alo, amo]);
        assert!((c.r - 0.81).abs() < 1e-12 && (c.ur - 0.8).abs() < 1e-12);
    }

    #[test]
    fn meter_counts_seed_example() {
        // The textbook picture: 4 sent, one lost, one duplicated.
        let mut m = HopMeter::default();
        (0..4).for_each(|_| m.record_sent());
        for first in [true, true, true, false] {
            m.record_received(first);
        }
        let rel = m.reliability();
        assert_eq!((rel.r, rel.ur), (0.75, 0.75));
        assert_eq!(m.mode(), DeliveryMode::Unreliable);
    }

    #[test]
    fn seen_set_reports_first_time_only() {
        let mut s = SeenSet::with_capacity(10);
        assert!(s.insert(3));
        assert!(!s.insert(3));
        assert!(s.insert(1000));
        assert!(s.contains(1000) && !s.contains(4));
    }
}
