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
//! - [`secure`]: secure channels under pipes (Noise IK through `snow`): handshake,
//!   transport encryption with per-frame nonces, replay window, cookies, rekeying.
//! - [`udp`]: the UDP driver — socket, timers, fault injection and the state directory
//!   around the durable ends.
//!
//! Byte layouts, memory bounds and recovery rules are in `docs/pipes.md`; the secure
//! channel's in `docs/secure-pipes.md`.
//!
//! # Example
//! A sender and a receiver over a "network" that loses every third frame: the driver
//! (here a loop; in production `exactly pipe` over UDP) moves frames and the time, the
//! cores resend and de-duplicate, and each message is delivered exactly once, in order.
//! ```
//! use exactly_pipe::{PipeMode, Receiver, ReceiverConfig, Sender, SenderConfig};
//!
//! let mut sender = Sender::new(SenderConfig::for_mode(PipeMode::Ordered, 7));
//! let mut receiver = Receiver::new(ReceiverConfig::for_mode(PipeMode::Ordered));
//! for text in ["debit 10", "credit 10", "audit"] {
//!     sender.send(0, text.as_bytes()).expect("window has room");
//! }
//! let (mut delivered, mut frames_seen) = (Vec::new(), 0u64);
//! for now_ms in (0..5_000).step_by(50) {
//!     sender.handle_timeout(now_ms); // resends what was not confirmed in time
//!     while let Some(frame) = sender.poll_transmit() {
//!         frames_seen += 1;
//!         if frames_seen % 3 != 0 {
//!             receiver.handle_frame(now_ms, &frame); // every third frame is lost
//!         }
//!     }
//!     receiver.handle_timeout(now_ms);
//!     while let Some((_sender_id, ack)) = receiver.poll_transmit() {
//!         sender.handle_frame(now_ms, &ack);
//!     }
//!     while let Some(delivery) = receiver.poll_delivery() {
//!         delivered.push(String::from_utf8(delivery.payload).expect("utf-8"));
//!     }
//! }
//! assert_eq!(delivered, ["debit 10", "credit 10", "audit"]);
//! assert!(sender.stats().resends > 0, "the lost frame was sent again");
//! assert!(sender.is_idle(), "everything confirmed");
//! ```

pub mod config;
pub mod durable;
mod durable_end;
pub mod fingerprint;
pub mod frame;
pub mod journal;
pub mod meter;
pub mod receiver;
pub mod secure;
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
