//! The wire format of the secure channel (frame version 2): every frame kind, size and
//! offset is defined here and nowhere else. Layouts (little-endian integers):
//!
//! ```text
//! every frame: magic u16 = 0x5850 | version u8 = 2 | kind u8
//!
//! kind 1, handshake init (initiator → responder), 144 bytes:
//!   4   sender_index u32   the initiator's index for this handshake
//!   8   noise [104]        Noise IK message 1: e | enc(s) | enc(stamp u64)
//! 112   mac1 [16]          keyed BLAKE2s of bytes 0..112 under the responder's public key
//! 128   mac2 [16]          keyed BLAKE2s of bytes 0..128 under a cookie, or zeros
//!
//! kind 2, handshake response (responder → initiator), 60 bytes:
//!   4   sender_index u32   the responder's index for the new session
//!   8   receiver_index u32 the initiator's index (from the init)
//!  12   noise [48]         Noise IK message 2: e | enc(empty)
//!
//! kind 3, cookie reply (responder → initiator, under load), 40 bytes:
//!   4   receiver_index u32 the initiator's index (from the init)
//!   8   echo [16]          the mac1 of the init it answers
//!  24   cookie [16]        keyed BLAKE2s of the initiator's address under a rotating secret
//!
//! kind 4, transport (both ways), 32 + n bytes:
//!   4   receiver_index u32 the index the recipient gave the session
//!   8   counter u64        the AEAD nonce; never reused in a session
//!  16   ciphertext [n+16]  ChaCha20-Poly1305 of a version-1 frame (n = 0: keepalive)
//!
//! the version-1 frame inside a transport frame (`crate::frame`, bytes 8..16):
//!   sender_id u64   sender → receiver: the *incarnation* (the sender state directory's
//!                   random id), meaningful only with the authenticated key: the receiver
//!                   keys its de-dup state by `PublicKey::table_id(sender_id)`;
//!                   receiver → sender: echoes the declared incarnation id
//!   a refused frame with reason 3 (incarnations full, a = the per-key limit) answers a
//!   data frame of an incarnation beyond the key's limit
//! ```
//!
//! Version-1 frames (plaintext, `crate::frame`) share the magic; a secure end drops them.

/// The magic shared with version-1 frames.
pub use crate::frame::MAGIC;

/// The secure channel's frame version.
pub const VERSION: u8 = 2;
/// The Noise protocol every secure pipe speaks.
pub const NOISE_PARAMS: &str = "Noise_IK_25519_ChaChaPoly_BLAKE2s";

/// Kind code of a handshake init.
pub const KIND_INIT: u8 = 1;
/// Kind code of a handshake response.
pub const KIND_RESPONSE: u8 = 2;
/// Kind code of a cookie reply.
pub const KIND_COOKIE: u8 = 3;
/// Kind code of a transport frame.
pub const KIND_TRANSPORT: u8 = 4;

/// Bytes of the common prefix (magic, version, kind).
const PREFIX_BYTES: usize = 4;
/// Bytes of a MAC and of a cookie.
pub const MAC_BYTES: usize = 16;
/// Bytes of the AEAD tag.
pub const TAG_BYTES: usize = 16;
/// Bytes of the handshake stamp carried (encrypted) in the init.
pub const STAMP_BYTES: usize = 8;
/// Bytes of Noise IK message 1 with an 8-byte payload: e (32), s (32 + 16), stamp (8 + 16).
pub const NOISE_INIT_BYTES: usize = 32 + 32 + TAG_BYTES + STAMP_BYTES + TAG_BYTES;
/// Bytes of Noise IK message 2 with an empty payload: e (32), tag (16).
pub const NOISE_RESPONSE_BYTES: usize = 32 + TAG_BYTES;

/// Offset of mac1 in an init.
pub const INIT_MAC1_AT: usize = 8 + NOISE_INIT_BYTES;
/// Offset of mac2 in an init.
pub const INIT_MAC2_AT: usize = INIT_MAC1_AT + MAC_BYTES;
/// Bytes of an init.
pub const INIT_BYTES: usize = INIT_MAC2_AT + MAC_BYTES;
/// Bytes of a response.
pub const RESPONSE_BYTES: usize = 12 + NOISE_RESPONSE_BYTES;
/// Bytes of a cookie reply.
pub const COOKIE_BYTES: usize = 8 + 2 * MAC_BYTES;
/// Bytes of a transport frame's header.
pub const TRANSPORT_HEADER_BYTES: usize = 16;
/// Bytes a transport frame adds to the version-1 frame it carries.
pub const TRANSPORT_OVERHEAD_BYTES: usize = TRANSPORT_HEADER_BYTES + TAG_BYTES;
/// The largest version-1 frame a transport frame carries (a Noise message is at most
/// 65,535 bytes, tag included).
pub const INNER_BYTES_MAX: usize = 65_535 - TAG_BYTES;
/// The largest message payload a secure pipe carries (`INNER_BYTES_MAX` less the
/// version-1 header): secure ends cap their `payload_bytes_max` at it.
pub const PAYLOAD_BYTES_MAX: usize = INNER_BYTES_MAX - crate::frame::HEADER_BYTES;

/// A decoded secure frame, borrowing the received bytes. Nothing here is authenticated
/// yet: the fields only say which key and which checks to try.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wire<'a> {
    /// A handshake init; `bytes` is the whole frame (the MACs cover it).
    Init {
        /// The initiator's index.
        sender_index: u32,
        /// The Noise message.
        noise: &'a [u8],
        /// The whole frame.
        bytes: &'a [u8],
    },
    /// A handshake response.
    Response {
        /// The responder's index.
        sender_index: u32,
        /// The initiator's index it answers.
        receiver_index: u32,
        /// The Noise message.
        noise: &'a [u8],
    },
    /// A cookie reply.
    Cookie {
        /// The initiator's index it answers.
        receiver_index: u32,
        /// The mac1 of the init it answers.
        echo: &'a [u8],
        /// The cookie.
        cookie: &'a [u8],
    },
    /// A transport frame.
    Transport {
        /// The recipient's index of the session.
        receiver_index: u32,
        /// The nonce.
        counter: u64,
        /// Ciphertext and tag.
        ciphertext: &'a [u8],
    },
}

/// Decodes the header of a secure frame; `None` for anything else (version-1 frames,
/// foreign bytes, wrong sizes). Never allocates.
pub fn decode(bytes: &[u8]) -> Option<Wire<'_>> {
    let prefix = bytes.get(..PREFIX_BYTES)?;
    if prefix.get(..2)? != MAGIC.to_le_bytes() || prefix.get(2) != Some(&VERSION) {
        return None;
    }
    match *prefix.get(3)? {
        KIND_INIT if bytes.len() == INIT_BYTES => Some(Wire::Init {
            sender_index: u32_at(bytes, 4)?,
            noise: bytes.get(8..INIT_MAC1_AT)?,
            bytes,
        }),
        KIND_RESPONSE if bytes.len() == RESPONSE_BYTES => Some(Wire::Response {
            sender_index: u32_at(bytes, 4)?,
            receiver_index: u32_at(bytes, 8)?,
            noise: bytes.get(12..)?,
        }),
        KIND_COOKIE if bytes.len() == COOKIE_BYTES => Some(Wire::Cookie {
            receiver_index: u32_at(bytes, 4)?,
            echo: bytes.get(8..8 + MAC_BYTES)?,
            cookie: bytes.get(8 + MAC_BYTES..)?,
        }),
        KIND_TRANSPORT if bytes.len() >= TRANSPORT_OVERHEAD_BYTES => Some(Wire::Transport {
            receiver_index: u32_at(bytes, 4)?,
            counter: u64::from_le_bytes(bytes.get(8..16)?.try_into().ok()?),
            ciphertext: bytes.get(TRANSPORT_HEADER_BYTES..)?,
        }),
        _ => None,
    }
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// The prefix and first field every secure frame starts with.
pub fn header(kind: u8, index: u32, capacity: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(capacity);
    out.extend_from_slice(&MAGIC.to_le_bytes());
    out.push(VERSION);
    out.push(kind);
    out.extend_from_slice(&index.to_le_bytes());
    out
}

/// Whether `bytes` look like a secure frame (version 2), for drivers that count what
/// they drop.
pub fn is_secure_frame(bytes: &[u8]) -> bool {
    decode(bytes).is_some()
}
