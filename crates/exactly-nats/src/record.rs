//! The record layout in a JetStream message (pure).
//!
//! - payload: the record's value, byte for byte;
//! - `Nats-Msg-Id`: the record's message id, deterministic per record (its lineage: who
//!   wrote it, from which input position) — JetStream de-duplicates retries by it inside
//!   the duplicate window, and `verify` counts records by it;
//! - `Exactly-Ts`: the event timestamp, milliseconds since the Unix epoch, decimal;
//! - `Exactly-Key`: the key as lowercase hex (header values must be text without line
//!   breaks; hex keeps any key bytes); absent for an unkeyed record;
//! - `Exactly-Epoch`: the writer's epoch (decimal), when it writes under one: a writer
//!   that finds a higher epoch at the tail has been replaced and stops (see
//!   [`crate::fence`]).
//! - `Exactly-Origin`: `<writer>.<n>`, the record's place in its writer's own order,
//!   for writers whose message id is not a lineage number (an endpoint's outbox: the id
//!   is the outbox message id, `n` its outbox sequence); how such a writer finds where it
//!   stopped without trusting the duplicate window.

use async_nats::HeaderMap;

/// Header holding the event timestamp (ms, decimal).
pub const TIMESTAMP_HEADER: &str = "Exactly-Ts";
/// Header holding the key (lowercase hex).
pub const KEY_HEADER: &str = "Exactly-Key";
/// Header holding the writer's epoch (decimal).
pub const EPOCH_HEADER: &str = "Exactly-Epoch";
/// Header holding the writer's own order (`<writer>.<n>`).
pub const ORIGIN_HEADER: &str = "Exactly-Origin";
/// JetStream's message-id header.
pub const MSG_ID_HEADER: &str = "Nats-Msg-Id";

/// A record to publish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutRecord {
    /// Deterministic message id (lineage): the same record retried carries the same id.
    pub msg_id: String,
    /// The writer's epoch, for fencing (`None`: not written under an epoch).
    pub epoch: Option<u64>,
    /// The record's place in its writer's order, `<writer>.<n>` (`None`: not written so).
    pub origin: Option<String>,
    /// Partitioning key.
    pub key: Option<Vec<u8>>,
    /// Event time, ms.
    pub timestamp_ms: i64,
    /// The payload.
    pub value: Vec<u8>,
}

/// A record read back from a partition's stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRecord {
    /// The stream sequence (the record's offset in its partition; the first is 1).
    pub sequence: u64,
    /// Its message id, if it was published with one.
    pub msg_id: Option<String>,
    /// The writer's epoch, if it wrote under one.
    pub epoch: Option<u64>,
    /// The record's place in its writer's order, if written with one.
    pub origin: Option<String>,
    /// Partitioning key.
    pub key: Option<Vec<u8>>,
    /// Event time, ms.
    pub timestamp_ms: i64,
    /// The payload.
    pub value: Vec<u8>,
}

/// Why a stored message does not decode as a record.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordLayoutError {
    /// The timestamp header is missing.
    #[error("no {TIMESTAMP_HEADER} header")]
    NoTimestamp,
    /// The timestamp header is not a decimal integer.
    #[error("{TIMESTAMP_HEADER} is not an integer: {0:?}")]
    BadTimestamp(String),
    /// The epoch header is not a decimal integer.
    #[error("{EPOCH_HEADER} is not an integer: {0:?}")]
    BadEpoch(String),
    /// The key header is not even-length lowercase hex.
    #[error("{KEY_HEADER} is not hex: {0:?}")]
    BadKey(String),
    /// The message id does not end in a lineage number (`<prefix><n>`).
    #[error("message id {0:?} is not a lineage id")]
    BadMsgId(Option<String>),
}

/// The headers of `record` (message id, timestamp, key).
pub fn headers_of(record: &OutRecord) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(MSG_ID_HEADER, record.msg_id.as_str());
    headers.insert(TIMESTAMP_HEADER, record.timestamp_ms.to_string().as_str());
    if let Some(epoch) = record.epoch {
        headers.insert(EPOCH_HEADER, epoch.to_string().as_str());
    }
    if let Some(origin) = &record.origin {
        headers.insert(ORIGIN_HEADER, origin.as_str());
    }
    if let Some(key) = &record.key {
        headers.insert(KEY_HEADER, hex(key).as_str());
    }
    headers
}

/// Decodes a stored message's headers and payload into a record.
pub fn decode(
    sequence: u64,
    headers: Option<&HeaderMap>,
    payload: &[u8],
) -> Result<StoredRecord, RecordLayoutError> {
    let header = |name: &str| {
        headers
            .and_then(|h| h.get(name))
            .map(|v| v.as_str().to_string())
    };
    let timestamp_text = header(TIMESTAMP_HEADER).ok_or(RecordLayoutError::NoTimestamp)?;
    let timestamp_ms = timestamp_text
        .parse()
        .map_err(|_| RecordLayoutError::BadTimestamp(timestamp_text.clone()))?;
    let key = match header(KEY_HEADER) {
        None => None,
        Some(text) => Some(unhex(&text).ok_or(RecordLayoutError::BadKey(text))?),
    };
    let epoch = match header(EPOCH_HEADER) {
        None => None,
        Some(text) => Some(
            text.parse()
                .map_err(|_| RecordLayoutError::BadEpoch(text))?,
        ),
    };
    Ok(StoredRecord {
        sequence,
        msg_id: header(MSG_ID_HEADER),
        epoch,
        origin: header(ORIGIN_HEADER),
        key,
        timestamp_ms,
        value: payload.to_vec(),
    })
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        for nibble in [byte >> 4, byte & 0x0f] {
            // A nibble is < 16, inside DIGITS.
            if let Some(&digit) = DIGITS.get(usize::from(nibble)) {
                text.push(char::from(digit));
            }
        }
    }
    text
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    let digit = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    };
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|pair| match pair {
            [high, low] => Some(digit(*high)? << 4 | digit(*low)?),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_survives_its_headers() {
        let record = OutRecord {
            msg_id: "p7-e0-42".into(),
            epoch: Some(3),
            origin: Some("accounts-a.7".into()),
            key: Some(vec![0, 1, 0xfe, b'a']),
            timestamp_ms: -5,
            value: b"hello".to_vec(),
        };
        let headers = headers_of(&record);
        let stored = decode(9, Some(&headers), &record.value).unwrap();
        assert_eq!(stored.sequence, 9);
        assert_eq!(stored.msg_id.as_deref(), Some("p7-e0-42"));
        assert_eq!(stored.key, record.key);
        assert_eq!(stored.epoch, Some(3));
        assert_eq!(stored.origin.as_deref(), Some("accounts-a.7"));
        assert_eq!(stored.timestamp_ms, -5);
        assert_eq!(stored.value, b"hello");
    }

    #[test]
    fn bad_headers_are_typed_errors() {
        assert_eq!(decode(1, None, b"x"), Err(RecordLayoutError::NoTimestamp));
        let mut headers = HeaderMap::new();
        headers.insert(TIMESTAMP_HEADER, "1");
        headers.insert(KEY_HEADER, "abc");
        assert!(matches!(
            decode(1, Some(&headers), b"x"),
            Err(RecordLayoutError::BadKey(_))
        ));
    }
}
