//! Runs messages through a pipeline of pipes over simulated links and audits the outcome.
//!
//! Hop `i` is a [`Sender`] and a [`Receiver`] joined by a [`SimNet`]; what hop `i` delivers
//! is fed to hop `i + 1`. Every hop is metered on its own copies (S = messages its sender
//! accepted, received = its receiver's deliveries, unique = distinct copies delivered); the
//! whole pipeline is metered on the original messages. A simulated clock jumps from event to
//! event, so a run is as fast as the state machines and exactly reproducible from its seed.

use crate::net::{NetConfig, NetStats, Side, SimNet};
use crate::secure_link::SecureLink;
use exactly_pipe::secure::ChannelStats;
use exactly_pipe::{
    HopMeter, PipeMode, Receiver, ReceiverConfig, ReceiverStats, SeenSet, Sender, SenderConfig,
    SenderEvent, SenderStats,
};
use std::collections::{HashMap, VecDeque};

/// Everything that determines a simulated run.
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    /// The pipe used on every hop.
    pub pipe: PipeMode,
    /// The links' faults (each hop gets its own link, seeded differently).
    pub net: NetConfig,
    /// Original messages sent into the first hop.
    pub messages: u64,
    /// Pipes in series.
    pub hops: u32,
    /// Seed of every random decision.
    pub seed: u64,
    /// Resends before a sender gives a message up (`None`: never).
    pub retries_max: Option<u32>,
    /// Sender window.
    pub in_flight_max: u64,
    /// First resend timeout.
    pub resend_timeout_ms: u64,
    /// Backoff cap.
    pub resend_timeout_max_ms: u64,
    /// Payload size (at least 8: the original message id).
    pub payload_bytes: usize,
    /// Receivers confirm only after the next hop confirmed (or, on the last hop, the
    /// application processed the message).
    pub cascade: bool,
    /// Give up the run (reported as incomplete) after this much simulated time.
    pub sim_time_max_ms: u64,
    /// Per-hop pipe and link, overriding `pipe` and `net` for the first `per_hop.len()`
    /// hops (to compose different pipes, as pipeline arithmetic does).
    pub per_hop: Vec<(PipeMode, NetConfig)>,
    /// Every hop runs inside a secure channel (Noise IK: handshake, encryption, replay
    /// window, rekeying every [`crate::secure_link::REKEY_AFTER_FRAMES`] frames).
    pub secure: bool,
}

impl SimConfig {
    /// A run of `messages` through one `pipe` over `net`.
    pub fn new(pipe: PipeMode, net: NetConfig, messages: u64, seed: u64) -> Self {
        Self::build(pipe, net, messages, seed)
    }

    /// The `exactly sim` command that replays this run (printed by failing tests).
    pub fn replay_command(&self) -> String {
        let n = &self.net;
        let mut cmd = format!(
            "exactly sim --pipe {} --loss {} --dup {} --reorder {} --corrupt {} --messages {} --hops {} --seed {}",
            self.pipe, n.loss, n.dup, n.reorder, n.corrupt, self.messages, self.hops, self.seed
        );
        if let Some(r) = self.retries_max {
            cmd.push_str(&format!(" --retries {r}"));
        }
        if n.partition_every_ms > 0 {
            cmd.push_str(&format!(
                " --partition-every-ms {} --partition-for-ms {}",
                n.partition_every_ms, n.partition_for_ms
            ));
        }
        if self.cascade {
            cmd.push_str(" --cascade");
        }
        if self.secure {
            cmd.push_str(" --secure");
        }
        if !self.per_hop.is_empty() {
            cmd.push_str(" (with per-hop overrides: replay through exactly_sim::run)");
        }
        cmd
    }

    /// The pipe and link of hop `i`.
    pub fn hop(&self, i: usize) -> (PipeMode, &NetConfig) {
        match self.per_hop.get(i) {
            Some((pipe, net)) => (*pipe, net),
            None => (self.pipe, &self.net),
        }
    }

    fn build(pipe: PipeMode, net: NetConfig, messages: u64, seed: u64) -> Self {
        SimConfig {
            pipe,
            net,
            messages,
            hops: 1,
            seed,
            retries_max: None,
            in_flight_max: 256,
            resend_timeout_ms: 20,
            resend_timeout_max_ms: 400,
            payload_bytes: 8,
            cascade: false,
            sim_time_max_ms: 1_000_000_000,
            per_hop: Vec::new(),
            secure: false,
        }
    }
}

/// High-water marks of the bounded memories of one hop.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryPeaks {
    /// Largest sender window span seen.
    pub window_span: u64,
    /// Most gap ids a receiver remembered.
    pub gap_ids: usize,
    /// Most messages a receiver buffered for ordering.
    pub reorder_buffered: usize,
    /// Most delivered-but-unconfirmed messages (cascade).
    pub pending_confirm: usize,
    /// Longest queue of messages waiting for this hop's window.
    pub input_queue: usize,
}

/// The outcome of one hop.
#[derive(Clone, Debug, PartialEq)]
pub struct HopReport {
    /// S, received, unique of this hop's copies.
    pub meter: HopMeter,
    /// The sender's counters.
    pub sender: SenderStats,
    /// The receiver's counters.
    pub receiver: ReceiverStats,
    /// The link's counters.
    pub net: NetStats,
    /// Memory high-water marks.
    pub peaks: MemoryPeaks,
    /// The secure channel's counters (initiator, responder), when [`SimConfig::secure`].
    pub channel: Option<(ChannelStats, ChannelStats)>,
}

/// The outcome of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct SimReport {
    /// The configuration that produced it (replay it to reproduce the run).
    pub config: SimConfig,
    /// Original messages in, deliveries out of the last hop, distinct originals out.
    pub end_to_end: HopMeter,
    /// Per hop.
    pub hops: Vec<HopReport>,
    /// Whether the last hop delivered originals in strictly increasing order.
    pub in_order: bool,
    /// Simulated time the run took.
    pub sim_time_ms: u64,
    /// Whether the run finished (all messages confirmed or given up, links drained) before
    /// `sim_time_max_ms`.
    pub completed: bool,
}

impl SimReport {
    /// Data frames sent by all hops' senders, resends included.
    pub fn frames_sent(&self) -> u64 {
        self.hops.iter().map(|h| h.sender.frames_sent).sum()
    }

    /// Duplicates suppressed by all hops' receivers.
    pub fn duplicates_suppressed(&self) -> u64 {
        self.hops
            .iter()
            .map(|h| h.receiver.duplicates_suppressed)
            .sum()
    }
}

/// A message waiting to enter a hop: the original id and, with cascade, the upstream
/// delivery to confirm once this hop confirms it.
#[derive(Clone, Copy, Debug)]
struct Pending {
    original: u64,
    upstream_seq: Option<u64>,
}

struct Hop {
    sender: Sender,
    receiver: Receiver,
    net: SimNet,
    input: VecDeque<Pending>,
    /// This hop's seq → upstream seq to confirm (cascade).
    upstream: HashMap<u64, u64>,
    meter: HopMeter,
    seen: SeenSet,
    peaks: MemoryPeaks,
    /// The sender's id (the key's id on a secure hop).
    sender_id: u64,
    secure: Option<SecureLink>,
}

fn hop_seed(seed: u64, hop: u32) -> u64 {
    // splitmix64 step: distinct, well-mixed seeds per hop.
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15u64.wrapping_mul(u64::from(hop) + 1));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

struct Run {
    config: SimConfig,
    hops: Vec<Hop>,
    next_original: u64,
    end: HopMeter,
    end_seen: SeenSet,
    last_original: Option<u64>,
    in_order: bool,
    payload: Vec<u8>,
}

/// Runs one simulation. Deterministic: the same config gives the same report.
pub fn run(config: &SimConfig) -> SimReport {
    let mut state = Run::new(config.clone());
    let (sim_time_ms, completed) = state.drive();
    state.report(sim_time_ms, completed)
}

impl Run {
    fn new(config: SimConfig) -> Self {
        let hop_count = config.hops.max(1).max(config.per_hop.len() as u32);
        let hops = (0..hop_count).map(|i| Hop::new(&config, i)).collect();
        Run {
            hops,
            next_original: 0,
            end: HopMeter::default(),
            end_seen: SeenSet::with_capacity(config.messages),
            last_original: None,
            in_order: true,
            payload: vec![0; config.payload_bytes.max(8)],
            config,
        }
    }

    /// The event loop: process everything due at `now`, then jump to the next event.
    fn drive(&mut self) -> (u64, bool) {
        let mut now_ms = 0;
        loop {
            self.feed_first_hop();
            for i in 0..self.hops.len() {
                self.step_hop(i, now_ms);
            }
            self.flush(now_ms);
            if self.is_done() {
                return (now_ms, true);
            }
            let Some(next) = self.next_event_ms() else {
                return (now_ms, self.is_done());
            };
            if next > self.config.sim_time_max_ms {
                return (now_ms, false);
            }
            now_ms = next.max(now_ms);
        }
    }

    fn feed_first_hop(&mut self) {
        let Some(first) = self.hops.first_mut() else {
            return;
        };
        while self.next_original < self.config.messages
            && first.input.len() < self.config.in_flight_max as usize
        {
            first.input.push_back(Pending {
                original: self.next_original,
                upstream_seq: None,
            });
            self.next_original += 1;
        }
    }

    fn step_hop(&mut self, i: usize, now_ms: u64) {
        let Some(hop) = self.hops.get_mut(i) else {
            return;
        };
        while let Some((side, frame)) = hop.net.pop_arrived(now_ms) {
            match (side, hop.secure.as_mut()) {
                (Side::Receiver, None) => hop.receiver.handle_frame(now_ms, &frame),
                (Side::Sender, None) => hop.sender.handle_frame(now_ms, &frame),
                (Side::Receiver, Some(link)) => {
                    if let Some(inner) = link.open_at_receiver(now_ms, &frame) {
                        hop.receiver.handle_frame(now_ms, &inner);
                    }
                }
                (Side::Sender, Some(link)) => {
                    if let Some(inner) = link.initiator.handle_datagram(now_ms, &frame) {
                        hop.sender.handle_frame(now_ms, &inner);
                    }
                }
            }
        }
        hop.sender.handle_timeout(now_ms);
        hop.receiver.handle_timeout(now_ms);
        if let Some(link) = hop.secure.as_mut() {
            link.initiator.handle_timeout(now_ms);
        }
        self.route_deliveries(i);
        self.route_sender_events(i);
        self.fill_sender(i, now_ms);
        if let Some(hop) = self.hops.get_mut(i) {
            hop.observe_peaks();
        }
    }

    /// Hands hop `i`'s deliveries to hop `i + 1` (or to the auditor after the last hop).
    fn route_deliveries(&mut self, i: usize) {
        let last = i + 1 == self.hops.len();
        let cascade = self.config.cascade;
        loop {
            let Some(hop) = self.hops.get_mut(i) else {
                return;
            };
            let Some(d) = hop.receiver.poll_delivery() else {
                return;
            };
            hop.meter.record_received(hop.seen.insert(d.seq));
            let original = original_id(&d.payload);
            if last {
                if cascade {
                    hop.receiver.confirm(d.sender_id, d.seq);
                }
                self.audit(original);
            } else if let Some(next) = self.hops.get_mut(i + 1) {
                next.input.push_back(Pending {
                    original,
                    upstream_seq: cascade.then_some(d.seq),
                });
            }
        }
    }

    fn audit(&mut self, original: u64) {
        let first_time = self.end_seen.insert(original);
        self.end.record_received(first_time);
        if self.last_original.is_some_and(|last| original <= last) {
            self.in_order = false;
        }
        self.last_original = Some(original);
    }

    /// Cascade: a confirmation (or give-up) at hop `i` releases the confirmation of the
    /// upstream delivery it came from.
    fn route_sender_events(&mut self, i: usize) {
        loop {
            let Some(hop) = self.hops.get_mut(i) else {
                return;
            };
            let Some(event) = hop.sender.poll_event() else {
                return;
            };
            let (SenderEvent::Confirmed { seq } | SenderEvent::GaveUp { seq }) = event;
            let Some(up_seq) = hop.upstream.remove(&seq) else {
                continue;
            };
            if let Some(prev) = i.checked_sub(1).and_then(|p| self.hops.get_mut(p)) {
                prev.receiver.confirm(prev.sender_id, up_seq);
            }
        }
    }

    fn fill_sender(&mut self, i: usize, now_ms: u64) {
        let resends = self.config.hop(i).0.resends();
        let mut fire_and_forget = Vec::new();
        let Some(hop) = self.hops.get_mut(i) else {
            return;
        };
        while hop.sender.can_send() {
            let Some(p) = hop.input.pop_front() else {
                break;
            };
            write_original(&mut self.payload, p.original);
            let Ok(seq) = hop.sender.send(now_ms, &self.payload) else {
                hop.input.push_front(p);
                break;
            };
            hop.meter.record_sent();
            match (p.upstream_seq, resends) {
                (Some(up), true) => {
                    hop.upstream.insert(seq, up);
                }
                // An at-most-once sender never confirms: it is done once it has sent.
                (Some(up), false) => fire_and_forget.push(up),
                (None, _) => {}
            }
        }
        if let Some(prev) = i.checked_sub(1).and_then(|p| self.hops.get_mut(p)) {
            for up in fire_and_forget {
                prev.receiver.confirm(prev.sender_id, up);
            }
        }
    }

    /// Puts every queued frame of every end on its link.
    fn flush(&mut self, now_ms: u64) {
        for hop in &mut self.hops {
            let Some(link) = hop.secure.as_mut() else {
                while let Some(frame) = hop.sender.poll_transmit() {
                    hop.net.send(now_ms, Side::Receiver, frame);
                }
                while let Some((_, frame)) = hop.receiver.poll_transmit() {
                    hop.net.send(now_ms, Side::Sender, frame);
                }
                continue;
            };
            while let Some(frame) = hop.sender.poll_transmit() {
                link.initiator.send_inner(now_ms, &frame);
            }
            while let Some((sender_id, frame)) = hop.receiver.poll_transmit() {
                link.responder.send_inner(now_ms, sender_id, &frame);
            }
            while let Some(frame) = link.initiator.poll_transmit() {
                hop.net.send(now_ms, Side::Receiver, frame);
            }
            while let Some((_, frame)) = link.responder.poll_transmit() {
                hop.net.send(now_ms, Side::Sender, frame);
            }
        }
    }

    fn is_done(&self) -> bool {
        self.next_original >= self.config.messages
            && self.hops.iter().all(|h| {
                h.input.is_empty()
                    && h.sender.is_idle()
                    && h.net.in_transit() == 0
                    && h.upstream.is_empty()
            })
    }

    fn next_event_ms(&mut self) -> Option<u64> {
        self.hops
            .iter_mut()
            .flat_map(|h| {
                [
                    h.net.next_arrival_ms(),
                    h.sender.poll_timeout(),
                    h.receiver.poll_timeout(),
                    h.secure.as_ref().and_then(|l| l.initiator.poll_timeout()),
                ]
            })
            .flatten()
            .min()
    }

    fn report(self, sim_time_ms: u64, completed: bool) -> SimReport {
        let mut end_to_end = self.end;
        end_to_end.sent = self.next_original;
        SimReport {
            end_to_end,
            hops: self.hops.into_iter().map(Hop::report).collect(),
            in_order: self.in_order,
            sim_time_ms,
            completed,
            config: self.config,
        }
    }
}

impl Hop {
    fn new(config: &SimConfig, i: u32) -> Self {
        let (pipe, net) = config.hop(i as usize);
        let secure = config
            .secure
            .then(|| SecureLink::new(hop_seed(config.seed ^ 0x5EC0_4E11, i), i));
        let sender_id = secure
            .as_ref()
            .map_or(u64::from(i) + 1, SecureLink::sender_id);
        let mut sc = SenderConfig::for_mode(pipe, sender_id);
        sc.in_flight_max = config.in_flight_max;
        sc.resend_timeout_ms = config.resend_timeout_ms;
        sc.resend_timeout_max_ms = config.resend_timeout_max_ms;
        sc.retries_max = config.retries_max;
        let mut rc = ReceiverConfig::for_mode(pipe);
        rc.cascade = config.cascade;
        Hop {
            sender: Sender::new(sc),
            receiver: Receiver::new(rc),
            net: SimNet::new(net.clone(), hop_seed(config.seed, i)),
            input: VecDeque::new(),
            upstream: HashMap::new(),
            meter: HopMeter::default(),
            seen: SeenSet::default(),
            peaks: MemoryPeaks::default(),
            sender_id,
            secure,
        }
    }

    fn observe_peaks(&mut self) {
        let id = self.sender.config().sender_id;
        let p = &mut self.peaks;
        p.window_span = p.window_span.max(self.sender.window_span());
        p.gap_ids = p.gap_ids.max(self.receiver.gap_ids_len(id));
        p.reorder_buffered = p
            .reorder_buffered
            .max(self.receiver.reorder_buffered_len(id));
        p.pending_confirm = p.pending_confirm.max(self.receiver.pending_confirm_len(id));
        p.input_queue = p.input_queue.max(self.input.len());
    }

    fn report(self) -> HopReport {
        HopReport {
            meter: self.meter,
            sender: self.sender.stats(),
            receiver: self.receiver.stats(),
            net: self.net.stats(),
            peaks: self.peaks,
            channel: self
                .secure
                .map(|l| (l.initiator.stats(), l.responder.stats())),
        }
    }
}

fn write_original(payload: &mut [u8], original: u64) {
    if let Some(head) = payload.get_mut(..8) {
        head.copy_from_slice(&original.to_le_bytes());
    }
}

fn original_id(payload: &[u8]) -> u64 {
    payload
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .map_or(u64::MAX, u64::from_le_bytes)
}
