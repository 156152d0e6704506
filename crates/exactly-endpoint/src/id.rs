//! [`MessageId`]: the identity the inbox de-duplicates on, and how outgoing ids are derived.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Index of the dead letter among a message's outgoing ids: far above any real index.
pub const DEAD_LETTER_INDEX: u32 = u32::MAX;

/// A 128-bit message identity. Incoming ids come from the message itself (a transfer id);
/// outgoing ids are [`MessageId::derive`]d from the incoming id and the output's index, so a
/// re-run of the same logical message produces the same ids and downstream inboxes drop the
/// copies.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MessageId(pub [u8; 16]);

impl MessageId {
    /// The id of a business name such as a transfer id (`xxh3-128` of a tagged name).
    pub fn from_name(name: &str) -> Self {
        Self::hash(b"name", name.as_bytes(), 0)
    }

    /// The id of output `index` of the message with this id.
    pub fn derive(self, index: u32) -> Self {
        Self::hash(b"out", &self.0, index)
    }

    /// The id of a record that carries no readable id: its position in the source, so that
    /// redeliveries of the same bad record are still recognised.
    pub fn from_position(topic: &str, partition: u32, offset: u64) -> Self {
        let name = format!("{topic}/{partition}/{offset}");
        Self::hash(b"pos", name.as_bytes(), 0)
    }

    fn hash(tag: &[u8], body: &[u8], index: u32) -> Self {
        let mut input = Vec::with_capacity(tag.len() + body.len() + 5);
        input.extend_from_slice(tag);
        input.push(0);
        input.extend_from_slice(body);
        input.extend_from_slice(&index.to_le_bytes());
        Self(xxhash_rust::xxh3::xxh3_128(&input).to_le_bytes())
    }

    /// Lower-case hex, 32 characters.
    pub fn to_hex(&self) -> String {
        // Hot path (credits carry their transfer's id): no `format!` per byte.
        // Callers pass `byte >> 4` or `byte & 0x0f`, so the nibble is below 16 and always
        // a valid radix-16 digit.
        #[allow(clippy::expect_used)]
        let digit =
            |nibble: u8| char::from_digit(u32::from(nibble), 16).expect("a nibble is a hex digit");
        let mut out = String::with_capacity(32);
        for byte in self.0 {
            out.push(digit(byte >> 4));
            out.push(digit(byte & 0x0f));
        }
        out
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageId({})", self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_deterministic_and_distinct() {
        let parent = MessageId::from_name("t-1");
        assert_eq!(parent.derive(0), MessageId::from_name("t-1").derive(0));
        assert_ne!(parent.derive(0), parent.derive(1));
        assert_ne!(parent.derive(0), MessageId::from_name("t-2").derive(0));
        assert_ne!(parent, MessageId::from_position("t", 0, 1));
        assert_eq!(parent.to_hex().len(), 32);
    }
}
