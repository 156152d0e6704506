//! Secure channels under pipes: end-to-end encrypted, mutually authenticated transport
//! with the Noise protocol framework (`Noise_IK_25519_ChaChaPoly_BLAKE2s`, through the
//! `snow` crate), as sans-IO state machines in the style of [`crate::Sender`] and
//! [`crate::Receiver`]: they take datagrams and the time and return datagrams to send.
//!
//! - The sending end's [`InitiatorChannel`] is pinned to the receiver's public key; the
//!   receiving end's [`ResponderChannel`] takes an allow-list of sender public keys.
//! - Version-1 pipe frames travel inside transport frames whose nonce (a per-session
//!   counter) is carried in the frame, so loss and reordering do not break decryption;
//!   a sliding [`ReplayWindow`] accepts each counter once.
//! - Every handshake uses fresh ephemeral keys, so frames recorded from one session mean
//!   nothing in another: after either end restarts, replayed frames are refused. Inits
//!   carry a stamp that must grow per sender key, so a replayed init is refused too while
//!   the responder runs (and yields nothing usable after it restarts).
//! - Nothing is kept for a frame before it is authenticated, and handshake work is
//!   bounded by mac1 and, under load, cookies ([`cookie`]).
//! - A receiver de-duplicates by the pair (authenticated key, declared incarnation): the
//!   sender id a frame declares (inside the encryption) names one sender state directory
//!   of its key, and reaches the receiver as [`PublicKey::table_id`] of the pair, so no
//!   key can reach another's de-dup state and a new state directory is never taken for a
//!   duplicate of an old one. Each key holds a bounded number of incarnations
//!   ([`ResponderConfig::incarnations_per_key_max`]); one more is refused visibly.
//!
//! Layouts are in [`wire`] and `docs/secure-pipes.md`.
//!
//! # Example
//! ```
//! use exactly_pipe::frame::{self, FrameKind};
//! use exactly_pipe::secure::{
//!     InitiatorChannel, InitiatorConfig, ResponderChannel, ResponderConfig, StaticKeypair,
//! };
//!
//! let (sender_keys, receiver_keys) = (StaticKeypair::generate()?, StaticKeypair::generate()?);
//! let mut initiator =
//!     InitiatorChannel::new(InitiatorConfig::new(sender_keys.clone(), receiver_keys.public()))?;
//! let allowed = vec![sender_keys.public()];
//! let mut responder = ResponderChannel::new(ResponderConfig::new(receiver_keys, allowed), 0)?;
//! let from = "10.0.0.1:4000".parse()?;
//! // A version-1 data frame of the sender incarnation (state directory) with id 42.
//! let mut inner = Vec::new();
//! frame::encode(FrameKind::Data, 42, 0, b"hello", &mut inner);
//! initiator.send_inner(0, &inner); // queued: the handshake starts
//! let mut opened = Vec::new();
//! for _ in 0..2 {
//!     while let Some(datagram) = initiator.poll_transmit() {
//!         opened.extend(responder.handle_datagram(1, from, &datagram));
//!     }
//!     while let Some((_to, datagram)) = responder.poll_transmit() {
//!         initiator.handle_datagram(2, &datagram);
//!     }
//! }
//! // The receiver gets it under the id of (sender key, incarnation 42).
//! let table_id = sender_keys.public().table_id(42);
//! let expected = frame::with_sender_id(&inner, table_id).ok_or("not a frame")?;
//! assert_eq!(opened, vec![expected]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod cookie;
mod error;
mod incarnations;
mod initiator;
pub mod key_file;
mod keys;
mod rate_limit;
pub mod replay;
mod responder;
mod session;
pub mod wire;

pub use error::SecureError;
pub use initiator::{InitiatorChannel, InitiatorConfig};
pub use keys::{PublicKey, StaticKeypair, KEY_BYTES};
pub use replay::{ReplayWindow, REPLAY_WINDOW};
pub use responder::{ResponderChannel, ResponderConfig, INCARNATIONS_PER_KEY_MAX};

/// Counters of one channel end.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChannelStats {
    /// Handshake inits sent (initiator).
    pub handshakes_started: u64,
    /// Handshakes completed (initiator: responses accepted).
    pub handshakes_completed: u64,
    /// Inits whose Noise message was processed — the Diffie-Hellman work (responder).
    pub handshakes_processed: u64,
    /// Processed inits refused: key not allowed, or a stamp not newer than the last one
    /// (a replayed init) (responder).
    pub handshakes_refused: u64,
    /// Handshakes that could not be started (crypto backend failure).
    pub handshake_errors: u64,
    /// Cookie replies sent instead of doing handshake work (responder, under load).
    pub cookies_sent: u64,
    /// Inits with a valid cookie dropped because their address exceeded its handshake
    /// rate (responder, under load).
    pub handshakes_rate_limited: u64,
    /// Cookie replies accepted (initiator).
    pub cookies_received: u64,
    /// Transport frames sealed.
    pub frames_sealed: u64,
    /// Transport frames authenticated and opened.
    pub frames_opened: u64,
    /// Frames dropped before or at authentication: not secure frames (plaintext pipe
    /// frames included), bad MACs, unknown session indices, failed AEAD tags, expired
    /// sessions.
    pub frames_unauthenticated: u64,
    /// Authentic transport frames refused by the replay window.
    pub frames_replayed: u64,
    /// Opened frames that are not well-formed version-1 frames, so name no incarnation
    /// (responder).
    pub inner_sender_mismatch: u64,
    /// Opened frames from an incarnation refused because its key already holds
    /// `incarnations_per_key_max` active ones (responder; data frames get a sealed refusal).
    pub incarnations_refused: u64,
    /// Frames not sent for want of a session (the pipe's resends and ack repeats cover
    /// them).
    pub frames_dropped_unsent: u64,
}
