//! The sending end of a pipe: a sans-IO state machine.
//!
//! Inputs: [`Sender::send`] (a message), [`Sender::handle_frame`] (an ack from the network),
//! [`Sender::handle_timeout`] (the time, as `now_ms`). Outputs: [`Sender::poll_transmit`]
//! (frames to put on the wire), [`Sender::poll_event`] (confirmations and give-ups) and
//! [`Sender::poll_timeout`] (when to call `handle_timeout` next).
//!
//! Unconfirmed messages live in a window of slots indexed by `seq - base_seq`; the window's
//! span, not its count, is bounded by `in_flight_max`, which is what bounds the gaps a
//! receiver must remember.

use crate::config::SenderConfig;
use crate::frame::{self, FrameKind, Refusal};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use thiserror::Error;

/// Why [`Sender::send`] refused a message.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The in-flight window is full; wait for confirmations.
    #[error("in-flight window of {in_flight_max} seqs is full")]
    WindowFull {
        /// The configured window.
        in_flight_max: u64,
    },
    /// The payload is larger than the configured maximum.
    #[error("payload of {payload_len} bytes exceeds the maximum of {payload_bytes_max}")]
    PayloadTooLarge {
        /// Payload length.
        payload_len: usize,
        /// The configured maximum.
        payload_bytes_max: usize,
    },
}

/// Something the sender wants the application to know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SenderEvent {
    /// The receiver confirmed `seq`.
    Confirmed {
        /// The confirmed message.
        seq: u64,
    },
    /// `seq` was resent `retries_max` times without a confirmation and is dropped.
    GaveUp {
        /// The abandoned message.
        seq: u64,
    },
}

/// Counters of one sender.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SenderStats {
    /// Messages accepted by [`Sender::send`]: S in R = unique received / S.
    pub messages_sent: u64,
    /// Data frames transmitted, resends included.
    pub frames_sent: u64,
    /// Data frames transmitted again (after a timeout or by fast retransmit).
    pub resends: u64,
    /// Of `resends`, those sent early because an ack showed the seq missing.
    pub fast_resends: u64,
    /// Messages confirmed.
    pub confirmed: u64,
    /// Messages given up after `retries_max`.
    pub given_up: u64,
    /// Valid ack frames received.
    pub acks_received: u64,
    /// Frames dropped because they failed to decode (corruption, foreign bytes).
    pub frames_corrupt: u64,
    /// Frames dropped because they declared an oversize payload.
    pub frames_oversize: u64,
}

#[derive(Debug)]
struct InFlight {
    payload: Vec<u8>,
    attempts: u32,
    /// When the latest attempt went out (early resends wait at least a round trip).
    last_sent_ms: u64,
    /// The deadline of the live timer; heap entries with another deadline are stale.
    deadline_ms: u64,
    /// The receiver reported it held (received, not yet confirmed): its confirmation time
    /// says nothing about the round trip.
    held: bool,
    /// When the first attempt went out (RTT samples come only from unresent messages).
    sent_ms: u64,
}

/// The sending end of a pipe. See the module docs.
#[derive(Debug)]
pub struct Sender {
    config: SenderConfig,
    next_seq: u64,
    base_seq: u64,
    slots: VecDeque<Option<InFlight>>,
    in_flight_len: usize,
    /// (deadline_ms, seq, attempt): stale entries (confirmed, or superseded by a later
    /// attempt) are skipped lazily when popped.
    timers: BinaryHeap<Reverse<(u64, u64, u32)>>,
    transmits: VecDeque<Vec<u8>>,
    events: VecDeque<SenderEvent>,
    stats: SenderStats,
    /// Smoothed RTT and its variance in ms, once measured.
    rtt: Option<(f64, f64)>,
    /// The time of the latest input (for RTT samples on confirmation).
    now_ms: u64,
    /// The receiver refused this sender (see [`Sender::refusal`]).
    refusal: Option<Refusal>,
}

impl Sender {
    /// A fresh sender whose first message gets seq 0.
    pub fn new(config: SenderConfig) -> Self {
        Self::starting_at(config, 0)
    }

    /// A sender whose next message gets `next_seq` (recovery after a restart).
    pub fn starting_at(config: SenderConfig, next_seq: u64) -> Self {
        Sender {
            config,
            next_seq,
            base_seq: next_seq,
            slots: VecDeque::new(),
            in_flight_len: 0,
            timers: BinaryHeap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: SenderStats::default(),
            rtt: None,
            now_ms: 0,
            refusal: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SenderConfig {
        &self.config
    }

    /// The seq the next message will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Counters so far.
    pub fn stats(&self) -> SenderStats {
        self.stats
    }

    /// Unconfirmed messages held.
    pub fn in_flight_len(&self) -> usize {
        self.in_flight_len
    }

    /// Span of the window (`next_seq - oldest unconfirmed seq`), at most `in_flight_max`.
    pub fn window_span(&self) -> u64 {
        self.next_seq - self.base_seq
    }

    /// Unconfirmed messages with their seqs, oldest first (for compaction of durable state).
    pub fn in_flight(&self) -> impl Iterator<Item = (u64, &[u8])> {
        let base = self.base_seq;
        self.slots
            .iter()
            .zip(base..)
            .filter_map(|(slot, seq)| slot.as_ref().map(|f| (seq, f.payload.as_slice())))
    }

    /// The receiver's refusal, if it answered a data frame with one: it will not take this
    /// sender's messages, so resending cannot succeed. The sender stops transmitting and
    /// the unconfirmed messages stay in flight for the application to report. Sans-IO
    /// drivers must check it after [`Sender::handle_frame`] and stop with an error.
    pub fn refusal(&self) -> Option<Refusal> {
        self.refusal
    }

    /// Whether [`Sender::send`] would accept a message now.
    pub fn can_send(&self) -> bool {
        !self.config.resend || self.window_span() < self.config.in_flight_max
    }

    /// Whether every resent message is confirmed or given up (nothing left to do).
    pub fn is_idle(&self) -> bool {
        self.in_flight_len == 0 && self.transmits.is_empty()
    }

    /// Accepts a message, assigns it the next seq and queues its frame.
    pub fn send(&mut self, now_ms: u64, payload: &[u8]) -> Result<u64, SendError> {
        // A frame's length field has 32 bits, whatever the configured maximum.
        if payload.len() > self.config.payload_bytes_max || u32::try_from(payload.len()).is_err() {
            return Err(SendError::PayloadTooLarge {
                payload_len: payload.len(),
                payload_bytes_max: self.config.payload_bytes_max,
            });
        }
        if !self.can_send() {
            return Err(SendError::WindowFull {
                in_flight_max: self.config.in_flight_max,
            });
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.stats.messages_sent += 1;
        self.transmit(seq, payload);
        if self.config.resend {
            self.slots.push_back(Some(InFlight {
                payload: payload.to_vec(),
                attempts: 0,
                last_sent_ms: now_ms,
                deadline_ms: 0,
                held: false,
                sent_ms: now_ms,
            }));
            self.in_flight_len += 1;
            self.arm(now_ms, seq, 0);
        } else {
            self.base_seq = self.next_seq;
        }
        debug_assert_eq!(self.slots.len() as u64, self.window_span());
        Ok(seq)
    }

    /// Re-adopts an unconfirmed message after a restart (seqs must be given in increasing
    /// order, all below `next_seq`); it is transmitted at once.
    pub fn restore(&mut self, now_ms: u64, seq: u64, payload: Vec<u8>) {
        if seq >= self.next_seq || !self.config.resend {
            return;
        }
        if self.slots.is_empty() {
            self.base_seq = seq;
            self.slots.extend((seq..self.next_seq).map(|_| None));
        }
        if !matches!(self.slot_mut(seq), Some(None)) {
            return;
        }
        self.transmit(seq, &payload);
        if let Some(slot) = self.slot_mut(seq) {
            *slot = Some(InFlight {
                payload,
                attempts: 0,
                last_sent_ms: now_ms,
                deadline_ms: 0,
                held: false,
                sent_ms: now_ms,
            });
            self.in_flight_len += 1;
            self.stats.messages_sent += 1;
            self.arm(now_ms, seq, 0);
        }
    }

    fn transmit(&mut self, seq: u64, payload: &[u8]) {
        let mut out = Vec::with_capacity(frame::HEADER_BYTES + payload.len());
        frame::encode(
            FrameKind::Data,
            self.config.sender_id,
            seq,
            payload,
            &mut out,
        );
        self.transmits.push_back(out);
        self.stats.frames_sent += 1;
    }

    /// The timeout of attempt `attempts`: the current base timeout doubled per attempt,
    /// capped.
    fn timeout_for_ms(&self, attempts: u32) -> u64 {
        // 2^32 fits in a u64; a product beyond u64 saturates (the cap below applies either
        // way, so a saturated value means "the cap").
        let doubling = 1u64 << attempts.min(32);
        let shifted = self.base_timeout_ms().saturating_mul(doubling);
        shifted.min(self.config.resend_timeout_max_ms).max(1)
    }

    /// `resend_timeout_ms` until a round trip was measured, then `srtt + 4·rttvar` (at least
    /// one ms above srtt), within `[resend_timeout_min_ms, resend_timeout_max_ms]`.
    fn base_timeout_ms(&self) -> u64 {
        let Some((srtt, rttvar)) = self.rtt else {
            return self.config.resend_timeout_ms;
        };
        let rto = (srtt + (4.0 * rttvar).max(1.0)).ceil() as u64;
        rto.clamp(
            self.config.resend_timeout_min_ms,
            self.config
                .resend_timeout_max_ms
                .max(self.config.resend_timeout_min_ms),
        )
    }

    /// Folds in a round-trip sample (RFC 6298 gains).
    fn sample_rtt(&mut self, rtt_ms: f64) {
        self.rtt = Some(match self.rtt {
            None => (rtt_ms, rtt_ms / 2.0),
            Some((srtt, rttvar)) => {
                let rttvar = 0.75 * rttvar + 0.25 * (srtt - rtt_ms).abs();
                (0.875 * srtt + 0.125 * rtt_ms, rttvar)
            }
        });
    }

    /// The current base resend timeout (adaptive once round trips were measured).
    pub fn resend_timeout_ms(&self) -> u64 {
        self.base_timeout_ms()
    }

    fn arm(&mut self, now_ms: u64, seq: u64, attempts: u32) {
        let deadline = now_ms.saturating_add(self.timeout_for_ms(attempts));
        self.set_deadline(seq, deadline);
    }

    /// Moves `seq`'s timer to `deadline_ms` (older heap entries become stale).
    fn set_deadline(&mut self, seq: u64, deadline_ms: u64) {
        let Some(Some(entry)) = self.slot_mut(seq) else {
            return;
        };
        entry.deadline_ms = deadline_ms;
        let attempts = entry.attempts;
        self.timers.push(Reverse((deadline_ms, seq, attempts)));
    }

    /// Handles bytes from the network. Acks confirm messages; anything else is counted and
    /// dropped.
    pub fn handle_frame(&mut self, now_ms: u64, bytes: &[u8]) {
        self.now_ms = self.now_ms.max(now_ms);
        // An ack carries at most one seq per in-flight slot worth listing; bound its size.
        let ack_bytes_max = 8 * 4096;
        let frame = match frame::decode(bytes, ack_bytes_max) {
            Ok(f) => f,
            Err(e) if e.is_oversize() => return self.stats.frames_oversize += 1,
            Err(_) => return self.stats.frames_corrupt += 1,
        };
        if frame.kind == FrameKind::Data || frame.sender_id != self.config.sender_id {
            return;
        }
        if let Some(refusal) = frame.refusal() {
            self.refusal.get_or_insert(refusal);
            self.transmits.clear();
            return;
        }
        self.stats.acks_received += 1;
        let upto = frame.seq.min(self.next_seq);
        for seq in self.base_seq..upto.max(self.base_seq) {
            self.confirm(seq);
        }
        if let Some(range) = frame.ack_range() {
            self.handle_range(now_ms, frame.seq, range);
        } else {
            let mut highest_listed = None;
            for seq in frame.acked_seqs() {
                self.confirm(seq);
                highest_listed = highest_listed.max(Some(seq));
            }
            if highest_listed.is_some_and(|h| h > frame.seq) {
                self.fast_resend(now_ms, frame.seq, true);
            }
        }
        self.advance_base();
    }

    /// Confirms `[cumulative, end)` minus the listed gaps and pending seqs, then resends
    /// early what the ack shows lost: the gaps (the receiver saw later seqs) and, past `end`,
    /// seqs sent long enough ago that they should have arrived before this ack was made.
    fn handle_range(&mut self, now_ms: u64, cumulative: u64, range: frame::AckRange<'_>) {
        let end = range.end.min(self.next_seq);
        let mut unconfirmed = range.gaps().chain(range.pending()).collect::<Vec<_>>();
        unconfirmed.sort_unstable();
        let mut skip = unconfirmed.iter().peekable();
        for seq in cumulative.max(self.base_seq)..end.max(self.base_seq) {
            while skip.next_if(|s| **s < seq).is_some() {}
            if skip.next_if_eq(&&seq).is_none() {
                self.confirm(seq);
            }
        }
        for gap in range.gaps().filter(|g| *g < end) {
            self.fast_resend(now_ms, gap, true);
        }
        // Held by the receiver (ordered buffer, or awaiting the application): not lost, so
        // push their timers back rather than resend them while the holes are repaired.
        for seq in range.pending().filter(|s| *s < end) {
            self.hold(now_ms, seq);
        }
        for seq in end.max(self.base_seq)..self.next_seq {
            self.fast_resend(now_ms, seq, false);
        }
    }

    /// Pushes `seq`'s timer to a full timeout from now (never earlier than it was).
    fn hold(&mut self, now_ms: u64, seq: u64) {
        let Some(Some(entry)) = self.slot_mut(seq) else {
            return;
        };
        entry.held = true;
        let (attempts, current) = (entry.attempts, entry.deadline_ms);
        let deadline = now_ms.saturating_add(self.timeout_for_ms(attempts));
        if deadline > current {
            self.set_deadline(seq, deadline);
        }
    }

    /// How long after its latest attempt an unconfirmed seq that an ack leaves out counts
    /// as lost: a smoothed round trip plus a millisecond of slack for reordering and clock
    /// granularity (half the initial timeout until a round trip was measured).
    fn loss_detect_ms(&self) -> u64 {
        match self.rtt {
            Some((srtt, rttvar)) => (srtt + rttvar.max(1.0)).ceil() as u64,
            None => (self.config.resend_timeout_ms / 2).max(1),
        }
    }

    /// Fast retransmit: resends `seq` now instead of waiting for its timer. A `gap` (the
    /// receiver got later seqs) on its first attempt is resent at once; otherwise only if
    /// its latest attempt is older than [`Sender::loss_detect_ms`], so an ack made before
    /// that attempt arrived cannot trigger it again. It counts as an attempt for
    /// `retries_max`.
    fn fast_resend(&mut self, now_ms: u64, seq: u64, gap: bool) {
        let retries_max = self.config.retries_max;
        let detect_ms = self.loss_detect_ms();
        let Some(Some(entry)) = self.slot_mut(seq) else {
            return;
        };
        let first_gap = gap && entry.attempts == 0;
        let recent = !first_gap && now_ms < entry.last_sent_ms.saturating_add(detect_ms);
        if recent || retries_max.is_some_and(|max| entry.attempts >= max) {
            return;
        }
        self.stats.fast_resends += 1;
        self.resend(now_ms, seq);
    }

    fn slot_mut(&mut self, seq: u64) -> Option<&mut Option<InFlight>> {
        let index = usize::try_from(seq.checked_sub(self.base_seq)?).ok()?;
        self.slots.get_mut(index)
    }

    fn confirm(&mut self, seq: u64) {
        let now_ms = self.now_ms;
        let Some(entry) = self.slot_mut(seq).and_then(Option::take) else {
            return;
        };
        self.in_flight_len -= 1;
        self.stats.confirmed += 1;
        self.events.push_back(SenderEvent::Confirmed { seq });
        // Karn's rule: a resent message's ack is ambiguous, so only first attempts count;
        // nor do messages the receiver held (their wait is not the network's).
        if entry.attempts == 0 && !entry.held {
            self.sample_rtt(now_ms.saturating_sub(entry.sent_ms) as f64);
        }
    }

    fn advance_base(&mut self) {
        while let Some(None) = self.slots.front() {
            self.slots.pop_front();
            self.base_seq += 1;
        }
        if self.slots.is_empty() {
            self.base_seq = self.next_seq;
        }
    }

    /// When [`Sender::handle_timeout`] should be called next, if anything is in flight.
    pub fn poll_timeout(&mut self) -> Option<u64> {
        while let Some(Reverse((deadline, seq, attempts))) = self.timers.peek().copied() {
            if self.is_live_timer(deadline, seq, attempts) {
                return Some(deadline);
            }
            self.timers.pop();
        }
        None
    }

    fn is_live_timer(&mut self, deadline_ms: u64, seq: u64, attempts: u32) -> bool {
        matches!(self.slot_mut(seq),
            Some(Some(f)) if f.attempts == attempts && f.deadline_ms == deadline_ms)
    }

    /// Resends every message whose timeout expired at `now_ms` (or gives it up).
    ///
    /// At most `resends_per_timeout_max` messages are resent per call; other expired ones
    /// are re-armed for one more base timeout (not counted as attempts). A mass expiry
    /// usually means the acks, not the data, were late or lost — resending the whole window
    /// at once would only flood the receiver — and the acks of the first resends (range acks
    /// describe the whole window) confirm or reveal the rest.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        if self.refusal.is_some() {
            return;
        }
        let mut budget = self.config.resends_per_timeout_max.max(1);
        let mut deferred = Vec::new();
        while let Some(Reverse((deadline, seq, attempts))) = self.timers.peek().copied() {
            if deadline > now_ms {
                break;
            }
            self.timers.pop();
            if !self.is_live_timer(deadline, seq, attempts) {
                continue;
            }
            if budget == 0 {
                deferred.push(seq);
                continue;
            }
            budget -= 1;
            self.expire(now_ms, seq);
        }
        let later = now_ms.saturating_add(self.base_timeout_ms());
        for seq in deferred {
            self.set_deadline(seq, later);
        }
        self.advance_base();
    }

    fn expire(&mut self, now_ms: u64, seq: u64) {
        let retries_max = self.config.retries_max;
        let Some(slot) = self.slot_mut(seq) else {
            return;
        };
        let Some(entry) = slot.as_mut() else {
            return;
        };
        if retries_max.is_some_and(|max| entry.attempts >= max) {
            *slot = None;
            self.in_flight_len -= 1;
            self.stats.given_up += 1;
            self.events.push_back(SenderEvent::GaveUp { seq });
            return;
        }
        self.resend(now_ms, seq);
    }

    /// Transmits `seq` again as its next attempt and re-arms its timer.
    fn resend(&mut self, now_ms: u64, seq: u64) {
        let Some(Some(entry)) = self.slot_mut(seq) else {
            return;
        };
        entry.attempts += 1;
        entry.last_sent_ms = now_ms;
        let attempts = entry.attempts;
        let payload = std::mem::take(&mut entry.payload);
        self.transmit(seq, &payload);
        if let Some(Some(entry)) = self.slot_mut(seq) {
            entry.payload = payload;
        }
        self.stats.resends += 1;
        self.arm(now_ms, seq, attempts);
    }

    /// The next frame to put on the wire (none once refused).
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if self.refusal.is_some() {
            self.transmits.clear();
            return None;
        }
        self.transmits.pop_front()
    }

    /// The next confirmation or give-up.
    pub fn poll_event(&mut self) -> Option<SenderEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests;
