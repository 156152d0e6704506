//! A deterministic simulated network: every fault is drawn from one seeded RNG, so a run is
//! replayed exactly from its seed.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Faults and timing of a simulated link. Probabilities are per frame and independent.
#[derive(Clone, Debug, PartialEq)]
pub struct NetConfig {
    /// Probability a frame is lost.
    pub loss: f64,
    /// Probability a frame is delivered twice.
    pub dup: f64,
    /// Probability a frame is held back by up to `reorder_delay_ms` extra (so later frames
    /// overtake it).
    pub reorder: f64,
    /// Probability one bit of a frame is flipped.
    pub corrupt: f64,
    /// Base one-way delay.
    pub delay_ms: u64,
    /// Uniform extra delay `0..=jitter_ms` on every frame.
    pub jitter_ms: u64,
    /// Maximum extra delay of a reordered frame.
    pub reorder_delay_ms: u64,
    /// A partition starts every `partition_every_ms` (0: never) ...
    pub partition_every_ms: u64,
    /// ... and drops every frame for `partition_for_ms`, then heals.
    pub partition_for_ms: u64,
}

impl NetConfig {
    /// A perfect link with a 1 ms delay.
    pub fn perfect() -> Self {
        NetConfig {
            loss: 0.0,
            dup: 0.0,
            reorder: 0.0,
            corrupt: 0.0,
            delay_ms: 1,
            jitter_ms: 0,
            reorder_delay_ms: 5,
            partition_every_ms: 0,
            partition_for_ms: 0,
        }
    }

    /// The torture link the pipes are specified against: 30% loss, 10% duplication, 10% reordering, 1% corruption,
    /// jitter, and a 150 ms partition every 2 s.
    pub fn hostile() -> Self {
        NetConfig {
            loss: 0.3,
            dup: 0.1,
            reorder: 0.1,
            corrupt: 0.01,
            delay_ms: 1,
            jitter_ms: 2,
            reorder_delay_ms: 8,
            partition_every_ms: 2_000,
            partition_for_ms: 150,
        }
    }
}

/// Which side of a link a frame is addressed to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Towards the pipe's sender (acks).
    Sender,
    /// Towards the pipe's receiver (data).
    Receiver,
}

/// What the network did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Frames handed to the network.
    pub frames_in: u64,
    /// Frames delivered (duplicates included).
    pub frames_out: u64,
    /// Frames lost at random.
    pub lost: u64,
    /// Frames dropped by a partition.
    pub partitioned: u64,
    /// Extra copies made.
    pub duplicated: u64,
    /// Frames held back to be reordered.
    pub reordered: u64,
    /// Frames with a flipped bit.
    pub corrupted: u64,
}

#[derive(Debug)]
struct InTransit {
    at_ms: u64,
    order: u64,
    to: Side,
    frame: Vec<u8>,
}

impl PartialEq for InTransit {
    fn eq(&self, other: &Self) -> bool {
        (self.at_ms, self.order) == (other.at_ms, other.order)
    }
}
impl Eq for InTransit {}
impl PartialOrd for InTransit {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for InTransit {
    /// Reversed: the heap pops the earliest arrival first (ties by send order).
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at_ms, other.order).cmp(&(self.at_ms, self.order))
    }
}

/// One bidirectional simulated link. See the module docs.
#[derive(Debug)]
pub struct SimNet {
    config: NetConfig,
    rng: SmallRng,
    queue: BinaryHeap<InTransit>,
    order: u64,
    partition_phase_ms: u64,
    stats: NetStats,
}

impl SimNet {
    /// A link whose every decision comes from `seed`.
    pub fn new(config: NetConfig, seed: u64) -> Self {
        let mut rng = SmallRng::seed_from_u64(seed);
        let partition_phase_ms = if config.partition_every_ms > 0 {
            rng.random_range(0..config.partition_every_ms)
        } else {
            0
        };
        SimNet {
            config,
            rng,
            queue: BinaryHeap::new(),
            order: 0,
            partition_phase_ms,
            stats: NetStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> NetStats {
        self.stats
    }

    /// Frames in transit.
    pub fn in_transit(&self) -> usize {
        self.queue.len()
    }

    /// Whether the link is partitioned at `now_ms`.
    pub fn is_partitioned(&self, now_ms: u64) -> bool {
        let every = self.config.partition_every_ms;
        every > 0 && (now_ms + self.partition_phase_ms) % every < self.config.partition_for_ms
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.rng.random::<f64>() < p
    }

    /// Puts a frame on the link at `now_ms`, applying the configured faults.
    pub fn send(&mut self, now_ms: u64, to: Side, frame: Vec<u8>) {
        self.stats.frames_in += 1;
        if self.is_partitioned(now_ms) {
            self.stats.partitioned += 1;
            return;
        }
        if self.chance(self.config.loss) {
            self.stats.lost += 1;
            return;
        }
        if self.chance(self.config.dup) {
            self.stats.duplicated += 1;
            let copy = frame.clone();
            self.enqueue(now_ms, to, copy);
        }
        self.enqueue(now_ms, to, frame);
    }

    fn enqueue(&mut self, now_ms: u64, to: Side, mut frame: Vec<u8>) {
        let mut delay = self.config.delay_ms;
        if self.config.jitter_ms > 0 {
            delay += self.rng.random_range(0..=self.config.jitter_ms);
        }
        if self.chance(self.config.reorder) {
            self.stats.reordered += 1;
            delay += self.rng.random_range(0..=self.config.reorder_delay_ms);
        }
        if self.chance(self.config.corrupt) && !frame.is_empty() {
            self.stats.corrupted += 1;
            let bit = self.rng.random_range(0..frame.len() * 8);
            if let Some(byte) = frame.get_mut(bit / 8) {
                *byte ^= 1 << (bit % 8);
            }
        }
        self.order += 1;
        self.queue.push(InTransit {
            at_ms: now_ms + delay,
            order: self.order,
            to,
            frame,
        });
    }

    /// When the next frame arrives, if any is in transit.
    pub fn next_arrival_ms(&self) -> Option<u64> {
        self.queue.peek().map(|t| t.at_ms)
    }

    /// The next frame that has arrived by `now_ms`.
    pub fn pop_arrived(&mut self, now_ms: u64) -> Option<(Side, Vec<u8>)> {
        if self.queue.peek()?.at_ms > now_ms {
            return None;
        }
        let t = self.queue.pop()?;
        self.stats.frames_out += 1;
        Some((t.to, t.frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(seed: u64) -> (NetStats, Vec<Vec<u8>>) {
        let mut net = SimNet::new(NetConfig::hostile(), seed);
        for i in 0u32..1000 {
            net.send(u64::from(i), Side::Receiver, i.to_le_bytes().to_vec());
        }
        let mut out = Vec::new();
        while let Some((_, f)) = net.pop_arrived(u64::MAX) {
            out.push(f);
        }
        (net.stats(), out)
    }

    #[test]
    fn same_seed_same_faults() {
        assert_eq!(run(5), run(5));
        assert_ne!(run(5).1, run(6).1);
    }

    #[test]
    fn faults_happen_at_roughly_the_configured_rates() {
        let (stats, _) = run(1);
        assert!(stats.lost > 200 && stats.lost < 380, "{stats:?}");
        assert!(stats.partitioned > 0 && stats.reordered > 0 && stats.duplicated > 0);
    }
}
