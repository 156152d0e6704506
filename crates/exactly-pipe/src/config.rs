//! Pipe modes and the configuration of each end.

use std::fmt;
use std::str::FromStr;

/// How a receiver treats repeated and out-of-order messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dedup {
    /// Every received data frame is delivered, duplicates included.
    None,
    /// ID de-duplication: a message is delivered once, in any order. Memory per sender is a
    /// high-water mark plus the ids of the gaps below it, at most `gap_ids_max`.
    Id,
    /// Index de-duplication (monotonic): a message is delivered only if its index is above
    /// every index delivered before; lower ones are discarded (and confirmed). One integer of
    /// memory per sender, but a message overtaken by a later one is lost.
    Index,
    /// Only the next consecutive index is delivered; later ones wait in a buffer of at most
    /// `reorder_buffer_max` messages. Exactly once and in order.
    Ordered,
}

/// The pipes, each a combination of a sender and a receiver behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PipeMode {
    /// Send once, never resend; deliver what arrives (duplicates included).
    AtMostOnce,
    /// Resend until confirmed; no de-duplication (at-least-once).
    Resend,
    /// Resend plus ID de-duplication (exactly-once, any order).
    ResendIdDedup,
    /// Resend plus monotonic index de-duplication.
    ResendIndexDedup,
    /// Resend plus ordered delivery of consecutive indexes (exactly-once, in order).
    Ordered,
}

impl PipeMode {
    /// Every mode, weakest first.
    pub const ALL: [PipeMode; 5] = [
        PipeMode::AtMostOnce,
        PipeMode::Resend,
        PipeMode::ResendIdDedup,
        PipeMode::ResendIndexDedup,
        PipeMode::Ordered,
    ];

    /// Whether the sender resends until confirmed.
    pub fn resends(self) -> bool {
        self != PipeMode::AtMostOnce
    }

    /// The receiver's de-duplication.
    pub fn dedup(self) -> Dedup {
        match self {
            PipeMode::AtMostOnce | PipeMode::Resend => Dedup::None,
            PipeMode::ResendIdDedup => Dedup::Id,
            PipeMode::ResendIndexDedup => Dedup::Index,
            PipeMode::Ordered => Dedup::Ordered,
        }
    }

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            PipeMode::AtMostOnce => "at-most-once",
            PipeMode::Resend => "resend",
            PipeMode::ResendIdDedup => "resend+id-dedup",
            PipeMode::ResendIndexDedup => "resend+index-dedup",
            PipeMode::Ordered => "ordered",
        }
    }
}

impl fmt::Display for PipeMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown pipe mode name.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("unknown pipe {name:?}: expected at-most-once, resend, resend+id-dedup, resend+index-dedup or ordered")]
#[non_exhaustive]
pub struct UnknownPipeMode {
    /// The name given.
    pub name: String,
}

impl FromStr for PipeMode {
    type Err = UnknownPipeMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PipeMode::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| UnknownPipeMode { name: s.to_owned() })
    }
}

/// Configuration of a [`crate::Sender`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SenderConfig {
    /// This end's id, carried in every frame; the receiver keeps de-dup state per id.
    pub sender_id: u64,
    /// Resend until confirmed (`false`: at-most-once, send once and forget).
    pub resend: bool,
    /// Time to wait for a confirmation before the first resend, until round trips have been
    /// measured (then the timeout adapts: smoothed RTT + 4 × RTT variance, as TCP does).
    pub resend_timeout_ms: u64,
    /// Floor of the adaptive timeout.
    pub resend_timeout_min_ms: u64,
    /// Cap of the exponential backoff (the timeout doubles per attempt up to this).
    pub resend_timeout_max_ms: u64,
    /// Maximum span of unconfirmed seqs (`next_seq - oldest unconfirmed seq`).
    pub in_flight_max: u64,
    /// Timer-driven resends per [`crate::Sender::handle_timeout`] call; further expired
    /// messages wait one more timeout (see there).
    pub resends_per_timeout_max: usize,
    /// Give a message up after this many resends (`None`: never give up).
    pub retries_max: Option<u32>,
    /// Largest payload accepted.
    pub payload_bytes_max: usize,
}

impl SenderConfig {
    /// Defaults for `mode` with the given sender id.
    pub fn for_mode(mode: PipeMode, sender_id: u64) -> Self {
        SenderConfig {
            sender_id,
            resend: mode.resends(),
            resend_timeout_ms: 20,
            resend_timeout_min_ms: 2,
            resend_timeout_max_ms: 1_000,
            in_flight_max: 256,
            resends_per_timeout_max: 32,
            retries_max: None,
            payload_bytes_max: 64 * 1024,
        }
    }
}

/// Configuration of a [`crate::Receiver`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiverConfig {
    /// De-duplication and ordering.
    pub dedup: Dedup,
    /// Cascade confirmation: confirm to the sender only after [`crate::Receiver::confirm`]
    /// (the application or the next pipe confirmed). `false`: confirm on delivery.
    pub cascade: bool,
    /// [`Dedup::Id`]: maximum gap ids remembered per sender; a frame that would need more is
    /// dropped unconfirmed (the sender resends it later).
    pub gap_ids_max: usize,
    /// [`Dedup::Ordered`]: maximum messages buffered ahead of the next index per sender.
    pub reorder_buffer_max: usize,
    /// Cascade: maximum delivered but unconfirmed messages per sender.
    pub pending_confirm_max: usize,
    /// Maximum senders with full de-dup state. When a new sender arrives and the table is
    /// full, the least recently active sender that can be forgotten safely is reduced to a
    /// floor (see `sender_floors_max`); if none can, the new sender is answered with a
    /// refused frame ([`crate::frame::Refusal::SendersFull`]).
    pub senders_max: usize,
    /// Maximum forgotten senders remembered by their floor (16 bytes of state each). When
    /// full, no sender is forgotten any more and new senders are refused.
    pub sender_floors_max: usize,
    /// A sender with holes (missing seqs below ones it delivered) is forgotten only after
    /// this long without a frame; if it comes back it is refused from its lowest hole on
    /// ([`crate::frame::Refusal::Evicted`]). Senders without holes are forgotten losslessly
    /// whenever room is needed.
    pub sender_idle_evict_ms: u64,
    /// Largest payload accepted; larger frames are rejected before allocation.
    pub payload_bytes_max: usize,
    /// Maximum individually listed seqs per ack frame.
    pub ack_ids_max: usize,
    /// After an ack, repeat it this long later if the sender sent nothing new meanwhile (a
    /// lost last ack would otherwise make the sender resend its whole window).
    pub ack_repeat_ms: u64,
    /// How many times an ack is repeated (0: never); the interval doubles per repeat (capped
    /// at 1 s). While the receiver has holes (gaps, or buffered seqs), 8 × as many.
    pub ack_repeats: u8,
}

impl ReceiverConfig {
    /// Defaults for `mode`, sized for a sender with `in_flight_max` 256.
    pub fn for_mode(mode: PipeMode) -> Self {
        ReceiverConfig {
            dedup: mode.dedup(),
            cascade: false,
            gap_ids_max: 1024,
            reorder_buffer_max: 1024,
            pending_confirm_max: 1024,
            senders_max: 1024,
            sender_floors_max: 1 << 20,
            sender_idle_evict_ms: 10 * 60 * 1000,
            payload_bytes_max: 64 * 1024,
            ack_ids_max: 256,
            ack_repeat_ms: 5,
            ack_repeats: 2,
        }
    }
}
