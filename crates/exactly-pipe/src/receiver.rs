//! The receiving end of a pipe: a sans-IO state machine.
//!
//! Inputs: [`Receiver::handle_frame`] (bytes from the network) and, with cascade
//! confirmation, [`Receiver::confirm`] (the application or the next pipe is done with a
//! message). Outputs: [`Receiver::poll_delivery`] (messages for the application) and
//! [`Receiver::poll_transmit`] (ack frames, each addressed by the sender id it confirms).
//!
//! De-duplication state is per sender id and bounded — see [`crate::Dedup`] and the memory
//! rules in `docs/pipes.md`. At most `senders_max` senders have full state; idle ones are
//! forgotten down to a floor, and a sender that cannot be taken is answered with a refused
//! frame — see `receiver/admission.rs`.

mod admission;

use crate::config::{Dedup, ReceiverConfig};
use crate::frame::{self, FrameKind};
use admission::{lowest_missing, Admitted, Floor};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

/// A message handed to the application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The sender it came from.
    pub sender_id: u64,
    /// Its seq at that sender.
    pub seq: u64,
    /// The message.
    pub payload: Vec<u8>,
}

/// Counters of one receiver.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReceiverStats {
    /// Valid data frames received (duplicates included).
    pub frames_received: u64,
    /// Frames dropped because they failed to decode (corruption, foreign bytes).
    pub frames_corrupt: u64,
    /// Frames dropped because they declared an oversize payload (before allocation).
    pub frames_oversize: u64,
    /// Messages handed to the application ("received" in UR = unique / received, at this end).
    pub delivered: u64,
    /// Data frames recognised as duplicates and not delivered again.
    pub duplicates_suppressed: u64,
    /// [`Dedup::Index`]: frames below the high-water mark discarded (duplicates or
    /// overtaken messages — index de-dup cannot tell them apart).
    pub stale_discarded: u64,
    /// Frames dropped unconfirmed because a bound was reached (gap ids, reorder buffer,
    /// pending confirmations); the sender resends them later. (A sender that cannot be
    /// taken is refused explicitly: `frames_refused`.)
    pub dropped_over_bound: u64,
    /// Ack frames sent.
    pub acks_sent: u64,
    /// Senders forgotten (reduced to a floor) to make room for another.
    pub senders_forgotten: u64,
    /// Data frames answered with a refused frame.
    pub frames_refused: u64,
}

/// The per-sender de-duplication state.
#[derive(Debug)]
enum DedupState {
    None,
    /// Every seq below `next` was seen except those in `gaps`.
    Id {
        next: u64,
        gaps: BTreeSet<u64>,
    },
    /// Every seq below `next` was delivered or discarded.
    Index {
        next: u64,
    },
    /// Every seq below `next` was delivered; `buffer` holds later ones.
    Ordered {
        next: u64,
        buffer: BTreeMap<u64, Vec<u8>>,
    },
}

/// What the de-dup state says about an arriving seq.
enum Verdict {
    Deliver,
    Duplicate,
    Stale,
    Buffered,
    OverBound,
}

#[derive(Debug)]
struct Peer {
    dedup: DedupState,
    /// Cascade: delivered, not yet confirmed by the application.
    pending: BTreeSet<u64>,
    /// Confirmed seqs not yet listed in an ack frame.
    acks: Vec<u64>,
    ack_due: bool,
    /// The next ack to send is a repeat (it must not re-arm the repeats).
    ack_is_repeat: bool,
    /// When to repeat the last ack, and how many repeats remain.
    repeat_at_ms: u64,
    repeat_interval_ms: u64,
    repeats_left: u8,
    /// The latest time a data frame of this sender arrived (forgetting picks the oldest).
    last_active_ms: u64,
}

impl Peer {
    fn new(dedup: DedupState, now_ms: u64) -> Self {
        Peer {
            dedup,
            pending: BTreeSet::new(),
            acks: Vec::new(),
            ack_due: false,
            ack_is_repeat: false,
            repeat_at_ms: 0,
            repeat_interval_ms: 0,
            repeats_left: 0,
            last_active_ms: now_ms,
        }
    }
}

/// The receiving end of a pipe. See the module docs.
#[derive(Debug)]
pub struct Receiver {
    config: ReceiverConfig,
    peers: HashMap<u64, Peer>,
    /// Forgotten senders (at most `sender_floors_max`).
    floors: HashMap<u64, Floor>,
    /// Frames for senders without a peer (refusals, acks below a floor): (sender id, frame).
    stateless: VecDeque<(u64, Vec<u8>)>,
    due: Vec<u64>,
    deliveries: VecDeque<Delivery>,
    stats: ReceiverStats,
    /// The latest time seen by `handle_frame` / `handle_timeout`.
    now_ms: u64,
}

impl Receiver {
    /// A receiver with no memory of any sender.
    pub fn new(config: ReceiverConfig) -> Self {
        Receiver {
            config,
            peers: HashMap::new(),
            floors: HashMap::new(),
            stateless: VecDeque::new(),
            due: Vec::new(),
            deliveries: VecDeque::new(),
            stats: ReceiverStats::default(),
            now_ms: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ReceiverConfig {
        &self.config
    }

    /// Counters so far.
    pub fn stats(&self) -> ReceiverStats {
        self.stats
    }

    /// Gap ids remembered for `sender_id` ([`Dedup::Id`]).
    pub fn gap_ids_len(&self, sender_id: u64) -> usize {
        match self.peers.get(&sender_id).map(|p| &p.dedup) {
            Some(DedupState::Id { gaps, .. }) => gaps.len(),
            _ => 0,
        }
    }

    /// Messages buffered ahead for `sender_id` ([`Dedup::Ordered`]).
    pub fn reorder_buffered_len(&self, sender_id: u64) -> usize {
        match self.peers.get(&sender_id).map(|p| &p.dedup) {
            Some(DedupState::Ordered { buffer, .. }) => buffer.len(),
            _ => 0,
        }
    }

    /// Delivered but unconfirmed messages of `sender_id` (cascade confirmation).
    pub fn pending_confirm_len(&self, sender_id: u64) -> usize {
        self.peers.get(&sender_id).map_or(0, |p| p.pending.len())
    }

    /// Senders with full state (at most `senders_max`, except after a replay that needed
    /// more: replay never forgets a sender with holes).
    pub fn senders_len(&self) -> usize {
        self.peers.len()
    }

    /// Forgotten senders remembered by their floor (at most `sender_floors_max`).
    pub fn sender_floors_len(&self) -> usize {
        self.floors.len()
    }

    /// Handles bytes from the network: data frames are de-duplicated and delivered, anything
    /// undecodable is counted and dropped.
    pub fn handle_frame(&mut self, now_ms: u64, bytes: &[u8]) {
        self.now_ms = self.now_ms.max(now_ms);
        let frame = match frame::decode(bytes, self.config.payload_bytes_max) {
            Ok(f) => f,
            Err(e) if e.is_oversize() => return self.stats.frames_oversize += 1,
            Err(_) => return self.stats.frames_corrupt += 1,
        };
        if frame.kind != FrameKind::Data {
            return;
        }
        self.stats.frames_received += 1;
        self.accept(frame.sender_id, frame.seq, frame.payload, true);
    }

    /// Re-applies a message delivered before a restart (read back from durable storage):
    /// the de-dup state learns it as delivered and confirmed; nothing is output.
    pub fn replay_delivered(&mut self, sender_id: u64, seq: u64) {
        self.accept(sender_id, seq, &[], false);
    }

    fn accept(&mut self, sender_id: u64, seq: u64, payload: &[u8], live: bool) {
        let cascade = self.config.cascade && live;
        let (gap_ids_max, buffer_max) = (self.config.gap_ids_max, self.config.reorder_buffer_max);
        let pending_max = self.config.pending_confirm_max;
        match self.admit(sender_id, seq, live) {
            Ok(Admitted::Peer) => {}
            Ok(Admitted::BelowFloor(low)) => {
                // Below a forgotten sender's floor: delivered long ago; confirm again.
                self.stats.duplicates_suppressed += 1;
                if live {
                    self.ack_below_floor(sender_id, low);
                }
                return;
            }
            Err(refusal) => return self.refuse(sender_id, seq, refusal),
        }
        let now_ms = self.now_ms;
        let Some(peer) = self.peers.get_mut(&sender_id) else {
            return;
        };
        peer.last_active_ms = now_ms;
        if cascade && peer.pending.len() >= pending_max && !peer.pending.contains(&seq) {
            self.stats.dropped_over_bound += 1;
            return;
        }
        let already_buffered = is_buffered(&peer.dedup, seq);
        let verdict = judge(&mut peer.dedup, seq, payload, gap_ids_max, buffer_max, live);
        let pending = peer.pending.contains(&seq);
        match verdict {
            Verdict::Deliver => self.deliver(sender_id, seq, payload.to_vec(), live),
            Verdict::Duplicate | Verdict::Stale => {
                if matches!(verdict, Verdict::Stale) {
                    self.stats.stale_discarded += 1;
                } else {
                    self.stats.duplicates_suppressed += 1;
                }
                // Confirm again (the first ack may have been lost) unless still pending.
                if live && !pending {
                    self.queue_ack(sender_id, seq);
                }
            }
            Verdict::Buffered => self.stats.duplicates_suppressed += u64::from(already_buffered),
            Verdict::OverBound => self.stats.dropped_over_bound += 1,
        }
        if live && self.config.dedup == Dedup::Ordered {
            self.drain_ordered(sender_id);
        }
    }

    fn deliver(&mut self, sender_id: u64, seq: u64, payload: Vec<u8>, live: bool) {
        if !live {
            return;
        }
        self.stats.delivered += 1;
        self.deliveries.push_back(Delivery {
            sender_id,
            seq,
            payload,
        });
        if self.config.cascade {
            if let Some(peer) = self.peers.get_mut(&sender_id) {
                peer.pending.insert(seq);
            }
        } else {
            self.queue_ack(sender_id, seq);
        }
    }

    fn drain_ordered(&mut self, sender_id: u64) {
        loop {
            let Some(peer) = self.peers.get_mut(&sender_id) else {
                return;
            };
            let DedupState::Ordered { next, buffer } = &mut peer.dedup else {
                return;
            };
            let Some(payload) = buffer.remove(next) else {
                return;
            };
            let seq = *next;
            *next += 1;
            self.deliver(sender_id, seq, payload, true);
        }
    }

    fn queue_ack(&mut self, sender_id: u64, seq: u64) {
        let ids_cap = self.config.ack_ids_max.saturating_mul(4);
        if let Some(peer) = self.peers.get_mut(&sender_id) {
            if peer.acks.len() < ids_cap {
                peer.acks.push(seq);
            }
            if !peer.ack_due {
                peer.ack_due = true;
                self.due.push(sender_id);
            }
        }
    }

    /// Cascade confirmation: the application (or the next pipe) is done with `seq` from
    /// `sender_id`; the receiver may now confirm it to the sender. Unknown seqs are ignored.
    pub fn confirm(&mut self, sender_id: u64, seq: u64) {
        let removed = self
            .peers
            .get_mut(&sender_id)
            .is_some_and(|p| p.pending.remove(&seq));
        if removed {
            self.queue_ack(sender_id, seq);
        }
    }

    /// When [`Receiver::handle_timeout`] should be called next (an ack repeat is due).
    pub fn poll_timeout(&self) -> Option<u64> {
        self.peers
            .values()
            .filter(|p| p.repeats_left > 0 && !p.ack_due)
            .map(|p| p.repeat_at_ms)
            .min()
    }

    /// Repeats acks whose repeat time has come (range acks only: a listed ack repeated
    /// would confirm nothing new).
    pub fn handle_timeout(&mut self, now_ms: u64) {
        self.now_ms = self.now_ms.max(now_ms);
        if self.config.dedup == Dedup::None {
            return;
        }
        for (sender_id, peer) in &mut self.peers {
            if peer.repeats_left == 0 || peer.ack_due || peer.repeat_at_ms > now_ms {
                continue;
            }
            peer.repeats_left -= 1;
            peer.ack_is_repeat = true;
            peer.ack_due = true;
            self.due.push(*sender_id);
        }
    }

    /// The next message for the application.
    pub fn poll_delivery(&mut self) -> Option<Delivery> {
        self.deliveries.pop_front()
    }

    /// The next ack frame, with the sender id it must go to.
    pub fn poll_transmit(&mut self) -> Option<(u64, Vec<u8>)> {
        if let Some(stateless) = self.stateless.pop_front() {
            return Some(stateless);
        }
        let sender_id = self.due.pop()?;
        let ack_ids_max = self.config.ack_ids_max;
        let peer = self.peers.get_mut(&sender_id)?;
        let cumulative = confirmed_floor(peer);
        let mut listed: Vec<u64> = Vec::new();
        let mut rest = Vec::new();
        for seq in peer.acks.drain(..) {
            if seq < cumulative {
                continue;
            }
            if listed.len() < ack_ids_max {
                listed.push(seq);
            } else {
                rest.push(seq);
            }
        }
        peer.acks = rest;
        peer.ack_due = !peer.acks.is_empty();
        if peer.ack_due {
            self.due.push(sender_id);
        }
        // A fresh ack arms its repeats; a repeat only counts one down.
        if !std::mem::take(&mut peer.ack_is_repeat) && self.config.dedup != Dedup::None {
            // While holes remain the sender may have nothing else to send (its window is
            // blocked on them), so keep reminding it, backing off, a bounded number of times.
            let holes = has_holes(peer);
            peer.repeats_left = if holes {
                self.config.ack_repeats.saturating_mul(8)
            } else {
                self.config.ack_repeats
            };
            peer.repeat_interval_ms = self.config.ack_repeat_ms.max(1);
        } else {
            peer.repeat_interval_ms = peer.repeat_interval_ms.saturating_mul(2).min(1_000);
        }
        peer.repeat_at_ms = self.now_ms.saturating_add(peer.repeat_interval_ms);
        let mut out = Vec::with_capacity(frame::HEADER_BYTES + 8 * listed.len());
        match range_of(peer, cumulative, ack_ids_max) {
            Some((end, gaps, pending)) => {
                frame::encode_ack_range(sender_id, cumulative, end, &gaps, &pending, &mut out);
            }
            None => frame::encode_ack(sender_id, cumulative, &listed, &mut out),
        }
        self.stats.acks_sent += 1;
        Some((sender_id, out))
    }
}

/// Whether the receiver is missing seqs below ones it has (a gap, or a buffered seq
/// waiting for its predecessors).
fn has_holes(peer: &Peer) -> bool {
    match &peer.dedup {
        DedupState::Id { gaps, .. } => !gaps.is_empty(),
        DedupState::Ordered { buffer, .. } => !buffer.is_empty(),
        DedupState::None | DedupState::Index { .. } => false,
    }
}

fn is_buffered(state: &DedupState, seq: u64) -> bool {
    matches!(state, DedupState::Ordered { buffer, .. } if buffer.contains_key(&seq))
}

/// The range a range ack can describe for `peer` — `(end, gaps, pending)` with at most
/// `ids_max` seqs listed — or `None` for a receiver without de-dup state (it must list).
fn range_of(peer: &Peer, cumulative: u64, ids_max: usize) -> Option<(u64, Vec<u64>, Vec<u64>)> {
    let mut held = Vec::new();
    let (end, gaps): (u64, Vec<u64>) = match &peer.dedup {
        DedupState::None => return None,
        DedupState::Id { next, gaps } => (*next, gaps.range(cumulative..).copied().collect()),
        DedupState::Index { next } => (*next, Vec::new()),
        // Buffered seqs are received but not confirmed: reported as pending (so the sender
        // neither confirms nor resends them early) and the holes between them as gaps.
        DedupState::Ordered { next, buffer } => {
            let end = buffer.last_key_value().map_or(*next, |(s, _)| s + 1);
            held.extend(buffer.keys().copied());
            let gaps = (*next..end).filter(|s| !buffer.contains_key(s)).collect();
            (end, gaps)
        }
    };
    let mut pending: Vec<u64> = peer.pending.range(cumulative..end).copied().collect();
    pending.extend(held);
    pending.sort_unstable();
    if gaps.len() + pending.len() <= ids_max {
        return Some((end, gaps, pending));
    }
    // Too many exceptions for one frame: describe only up to the ids_max-th of them.
    let mut all: Vec<u64> = gaps.iter().chain(&pending).copied().collect();
    all.sort_unstable();
    // `all` holds gaps.len() + pending.len() > ids_max seqs (checked above).
    #[allow(clippy::expect_used)]
    let cut = all
        .get(ids_max)
        .copied()
        .expect("more than ids_max exceptions");
    let gaps = gaps.into_iter().filter(|s| *s < cut).collect();
    let pending = pending.into_iter().filter(|s| *s < cut).collect();
    Some((cut, gaps, pending))
}

/// Every seq below the returned one is delivered *and* confirmed.
fn confirmed_floor(peer: &Peer) -> u64 {
    let seen_floor = match &peer.dedup {
        DedupState::None => 0,
        DedupState::Id { next, gaps } => lowest_missing(gaps, *next),
        DedupState::Index { next } | DedupState::Ordered { next, .. } => *next,
    };
    peer.pending
        .first()
        .map_or(seen_floor, |p| (*p).min(seen_floor))
}

/// Decides what an arriving `seq` is, updating the de-dup state. `live` is false during
/// replay, when the ordered buffer is bypassed (replayed seqs are consecutive).
fn judge(
    state: &mut DedupState,
    seq: u64,
    payload: &[u8],
    gap_ids_max: usize,
    buffer_max: usize,
    live: bool,
) -> Verdict {
    match state {
        DedupState::None => Verdict::Deliver,
        DedupState::Id { next, gaps } => judge_id(next, gaps, seq, gap_ids_max),
        DedupState::Index { next } => {
            if seq < *next {
                return Verdict::Stale;
            }
            *next = seq + 1;
            Verdict::Deliver
        }
        DedupState::Ordered { next, buffer } => {
            if seq < *next {
                return Verdict::Duplicate;
            }
            if buffer.contains_key(&seq) {
                // Held, not delivered: confirming it now could lose it in a crash.
                return Verdict::Buffered;
            }
            if seq == *next {
                *next += 1;
                return Verdict::Deliver;
            }
            let ahead = seq - *next;
            if !live || buffer.len() >= buffer_max || ahead > buffer_max as u64 {
                return Verdict::OverBound;
            }
            buffer.insert(seq, payload.to_vec());
            Verdict::Buffered
        }
    }
}

fn judge_id(next: &mut u64, gaps: &mut BTreeSet<u64>, seq: u64, gap_ids_max: usize) -> Verdict {
    if seq < *next {
        return if gaps.remove(&seq) {
            Verdict::Deliver
        } else {
            Verdict::Duplicate
        };
    }
    let new_gaps = seq - *next;
    if new_gaps > gap_ids_max.saturating_sub(gaps.len()) as u64 {
        return Verdict::OverBound;
    }
    gaps.extend(*next..seq);
    *next = seq + 1;
    debug_assert!(gaps.len() <= gap_ids_max);
    Verdict::Deliver
}
