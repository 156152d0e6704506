//! `exactly-pipe`: reliable delivery pipes — the building blocks for reaching
//! reliability `R → 1` and uniqueness rate `UR → 1` over a network that loses, duplicates,
//! reorders and corrupts.
//!
//! The cores are sans-IO state machines: a [`Sender`] and a [`Receiver`] take messages,
//! frames and the time (`now_ms`) as inputs and return frames to send, messages to deliver
//! and confirmations. Drivers (the simulator in `exactly-sim`, the UDP driver in [`udp`]) own
//! sockets, clocks and threads. Composed, they give the pipes ([`PipeMode`]):
//! at-most-once, resend, resend with ID or index de-duplication, and ordered; a receiver
//! configured for cascade confirmation confirms only after the application does (reliable
//! *processing*); [`DurableSender`] and [`DurableReceiver`] keep both ends' state in a
//! [`Journal`] so they survive restarts without loss or duplication. [`HopMeter`] counts
//! sent / received / unique received so R and UR are measured, not assumed.
//!
//! # Layout
//! - [`frame`]: the wire format (28-byte header, CRC32C), allocation-free decoding.
//! - [`config`]: [`PipeMode`], [`Dedup`], [`SenderConfig`], [`ReceiverConfig`].
//! - [`sender`]: [`Sender`] — resend with timeouts, capped exponential backoff, bounded
//!   in-flight window, optional retry limit.
//! - [`receiver`]: [`Receiver`] — bounded ID de-dup, index de-dup, ordered delivery,
//!   cascade confirmation, batched acks; a bounded sender table that forgets idle senders
//!   down to a floor and refuses (frame kind 4) what it cannot take safely.
//! - [`meter`]: [`HopMeter`], [`Reliability`], [`DeliveryMode`], [`SeenSet`].
//! - [`journal`]: [`Journal`], an append-only CRC-checked record file over `Storage`, with a
//!   durable-end file so damage in fsynced records is refused, never cut as a torn tail.
//! - [`durable`]: [`DurableSender`], [`DurableReceiver`].
//! - [`fingerprint`]: the hash chain of a sender's accepted messages ([`ResumeMismatch`]).
//! - [`state_dir`]: [`StateDirLock`] — one process per state directory, and a check that
//!   it was not deleted under a running end.
//! - [`udp`]: the UDP driver — socket, timers, fault injection and the state directory
//!   around the durable ends.
//!
//! Byte layouts, memory bounds and recovery rules are in `docs/pipes.md`.

pub mod config;
pub mod durable;
mod durable_end;
pub mod fingerprint;
pub mod frame;
pub mod journal;
pub mod meter;
pub mod receiver;
pub mod sender;
pub mod state_dir;
pub mod udp;

pub use config::{Dedup, PipeMode, ReceiverConfig, SenderConfig, UnknownPipeMode};
pub use durable::{DurableError, DurableReceiver, DurableSender};
pub use fingerprint::ResumeMismatch;
pub use frame::{FrameError, FrameKind, FrameRef};
pub use journal::{Journal, JournalError};
pub use meter::{DeliveryMode, HopMeter, Reliability, SeenSet};
pub use receiver::{Delivery, Receiver, ReceiverStats};
pub use sender::{SendError, Sender, SenderEvent, SenderStats};
pub use state_dir::{StateDirError, StateDirLock};
