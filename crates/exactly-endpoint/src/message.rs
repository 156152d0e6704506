//! Messages in and out of an endpoint, and their envelope on a transport.

use crate::id::MessageId;
use serde::{Deserialize, Serialize};

/// First byte of an envelope (format version 1).
pub const ENVELOPE_MAGIC: u8 = 0xE1;

/// An incoming message as the handler sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Logical identity; the inbox de-duplicates on it.
    pub id: MessageId,
    /// Routing key (may be empty).
    pub key: Vec<u8>,
    /// Body.
    pub payload: Vec<u8>,
    /// Event time in milliseconds.
    pub timestamp_ms: i64,
}

/// Where a delivery came from: the position the store commits with the batch.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Position {
    /// Source topic.
    pub topic: String,
    /// Source partition.
    pub partition: u32,
    /// Next offset to read (one past the delivery).
    pub next_offset: u64,
}

/// One arrival of a message: a message may be delivered many times.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The message (for an undecodable record, its id comes from its position).
    pub message: Message,
    /// Why the envelope could not be read, if it could not: such a delivery goes straight
    /// to the dead-letter topic without reaching the handler.
    pub malformed: Option<String>,
    /// Where it came from.
    pub position: Position,
}

/// A message stored in the outbox, waiting to be published.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// Order of the outbox (the logical processing order), assigned at commit.
    pub seq: u64,
    /// Derived from the incoming id and the output's index.
    pub id: MessageId,
    /// Destination topic.
    pub topic: String,
    /// Routing key.
    pub key: Vec<u8>,
    /// Body.
    pub payload: Vec<u8>,
}

/// Encodes `id` and `payload` as a transport record value: `magic | id[16] | payload`.
pub fn encode_envelope(id: MessageId, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(17 + payload.len());
    out.push(ENVELOPE_MAGIC);
    out.extend_from_slice(&id.0);
    out.extend_from_slice(payload);
    out
}

/// Decodes a transport record value into its id and payload.
pub fn decode_envelope(value: &[u8]) -> Result<(MessageId, &[u8]), String> {
    let (magic, rest) = value
        .split_first()
        .ok_or_else(|| "empty record".to_string())?;
    if *magic != ENVELOPE_MAGIC {
        return Err(format!(
            "envelope magic {magic:#04x}, expected {ENVELOPE_MAGIC:#04x}"
        ));
    }
    let (id, body) = rest
        .split_first_chunk::<16>()
        .ok_or_else(|| format!("envelope of {} bytes has no 16-byte id", value.len()))?;
    Ok((MessageId(*id), body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_round_trips_and_rejects_garbage() {
        let id = MessageId::from_name("x");
        let bytes = encode_envelope(id, b"hello");
        assert_eq!(decode_envelope(&bytes), Ok((id, &b"hello"[..])));
        assert!(decode_envelope(b"").is_err());
        assert!(decode_envelope(b"\xE1short").is_err());
        assert!(decode_envelope(b"{\"json\":1}").is_err());
    }
}
