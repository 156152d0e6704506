//! Which senders the receiver keeps state for: at most `senders_max` active ones; when a new
//! sender needs a place, an idle one is *forgotten* — reduced to a *floor* — never silently
//! dropped.
//!
//! A floor is `(low, high)`: every seq below `low` was delivered; seqs in `[low, high)` may
//! or may not have been. Forgetting a peer without holes (`low == high`) loses nothing: when
//! it comes back its state is exactly `next = low`. A peer with holes (gap ids) is only
//! forgotten after `sender_idle_evict_ms` without a frame (a live sender resends its holes
//! far more often), and if it does come back, seqs below `low` are confirmed as
//! duplicates and everything else is answered with [`Refusal::Evicted`]: the receiver
//! cannot tell a resent hole from a delivered seq any more, so it refuses rather than risk
//! a duplicate. Floors are bounded by `sender_floors_max`; when no peer can be forgotten
//! (or the floors are full) a new sender gets [`Refusal::SendersFull`].
//!
//! Nothing here is journaled: a durable receiver's journal holds every delivery, so replay
//! rebuilds exact state (a forgotten peer with holes gets its holes back after a restart,
//! which is strictly more precise).

use super::{DedupState, Peer, Receiver};
use crate::config::Dedup;
use crate::frame::{self, Refusal};
use std::collections::{BTreeMap, BTreeSet};

/// How a data frame's sender was admitted.
pub(super) enum Admitted {
    /// It has a peer (now).
    Peer,
    /// It was forgotten and the seq is below its floor `low`: delivered long ago.
    BelowFloor(u64),
}

/// What the receiver remembers of a forgotten sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Floor {
    /// Every seq below it was delivered.
    pub(super) low: u64,
    /// One above the highest seq seen; `[low, high)` is unknown.
    pub(super) high: u64,
}

impl Floor {
    fn of(dedup: &DedupState) -> Floor {
        match dedup {
            DedupState::None => Floor { low: 0, high: 0 },
            DedupState::Id { next, gaps } => Floor {
                low: lowest_missing(gaps, *next),
                high: *next,
            },
            // Buffered seqs were neither delivered nor confirmed: the sender resends them.
            DedupState::Index { next } | DedupState::Ordered { next, .. } => Floor {
                low: *next,
                high: *next,
            },
        }
    }
}

/// Whether a peer can be forgotten at `now_ms`: nothing delivered awaits confirmation, no
/// ack is queued, and it either has no holes or has been idle long enough.
fn forgettable(peer: &Peer, now_ms: u64, idle_ms: u64, live: bool) -> bool {
    if !peer.pending.is_empty() || !peer.acks.is_empty() || peer.ack_due {
        return false;
    }
    let floor = Floor::of(&peer.dedup);
    floor.low == floor.high || (live && now_ms.saturating_sub(peer.last_active_ms) >= idle_ms)
}

impl Receiver {
    /// Makes sure `sender_id` has a peer for a frame with `seq`, admitting it (and
    /// forgetting another if the table is full); `Err`: why the frame must be refused (only
    /// when `live`: replay never refuses).
    pub(super) fn admit(
        &mut self,
        sender_id: u64,
        seq: u64,
        live: bool,
    ) -> Result<Admitted, Refusal> {
        if self.peers.contains_key(&sender_id) {
            return Ok(Admitted::Peer);
        }
        if let Some(floor) = self.floors.get(&sender_id).copied() {
            if seq < floor.low {
                return Ok(Admitted::BelowFloor(floor.low));
            }
            if floor.low != floor.high && live {
                return Err(Refusal::Evicted {
                    low: floor.low,
                    high: floor.high,
                });
            }
        }
        if self.peers.len() >= self.config.senders_max && !self.forget_one(live) && live {
            return Err(Refusal::SendersFull {
                senders_max: self.config.senders_max as u64,
                floors_max: self.config.sender_floors_max as u64,
            });
        }
        // Replay never refuses: what the journal holds was admitted once and must be known.
        let next = self.floors.remove(&sender_id).map_or(0, |f| f.low);
        let peer = Peer::new(restored(self.config.dedup, next), self.now_ms);
        self.peers.insert(sender_id, peer);
        Ok(Admitted::Peer)
    }

    /// Forgets the least recently active forgettable peer; `false` if there is none or the
    /// floors are full.
    fn forget_one(&mut self, live: bool) -> bool {
        let (now_ms, idle_ms) = (self.now_ms, self.config.sender_idle_evict_ms);
        let victim = self
            .peers
            .iter()
            .filter(|(_, p)| forgettable(p, now_ms, idle_ms, live))
            .min_by_key(|(id, p)| (p.last_active_ms, **id))
            .map(|(id, _)| *id);
        let Some(victim) = victim else {
            return false;
        };
        let keep_floor = self.config.dedup != Dedup::None;
        if keep_floor && self.floors.len() >= self.config.sender_floors_max {
            return false;
        }
        if let Some(peer) = self.peers.remove(&victim) {
            if keep_floor {
                self.floors.insert(victim, Floor::of(&peer.dedup));
            }
            self.stats.senders_forgotten += 1;
        }
        true
    }

    /// Queues a refused frame answering `sender_id`'s `seq`.
    pub(super) fn refuse(&mut self, sender_id: u64, seq: u64, refusal: Refusal) {
        self.stats.frames_refused += 1;
        let mut out = Vec::new();
        frame::encode_refused(sender_id, seq, refusal, &mut out);
        self.queue_stateless(sender_id, out);
    }

    /// Queues an ack for a forgotten sender: every seq below its floor `low` is confirmed.
    pub(super) fn ack_below_floor(&mut self, sender_id: u64, low: u64) {
        let mut out = Vec::new();
        frame::encode_ack(sender_id, low, &[], &mut out);
        self.queue_stateless(sender_id, out);
    }

    /// Frames for senders without a peer, bounded: past the bound the frame is dropped and
    /// the sender's next resend is answered instead.
    fn queue_stateless(&mut self, sender_id: u64, frame: Vec<u8>) {
        if self.stateless.len() < STATELESS_QUEUED_MAX {
            self.stateless.push_back((sender_id, frame));
        }
    }
}

/// Frames for senders without a peer queued at most.
const STATELESS_QUEUED_MAX: usize = 256;

/// The de-dup state of a sender whose every seq below `next` was delivered.
fn restored(dedup: Dedup, next: u64) -> DedupState {
    match dedup {
        Dedup::None => DedupState::None,
        Dedup::Id => DedupState::Id {
            next,
            gaps: BTreeSet::new(),
        },
        Dedup::Index => DedupState::Index { next },
        Dedup::Ordered => DedupState::Ordered {
            next,
            buffer: BTreeMap::new(),
        },
    }
}

/// The lowest seq an ID de-dup state has not seen: its first gap, or `next` when there is
/// none (every seq below `next` arrived).
pub(super) fn lowest_missing(gaps: &std::collections::BTreeSet<u64>, next: u64) -> u64 {
    match gaps.first() {
        Some(&gap) => gap,
        None => next,
    }
}
