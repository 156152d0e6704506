//! How a Kafka record's parts the log has no field for (headers, a null value) are kept in
//! the log record's value, so that they come back byte for byte over Fetch.
//!
//! The log stores `timestamp`, an optional key and a value. A Kafka record without headers
//! and with a non-null value is stored as is: the log's own readers (`exactly log consume`,
//! jobs) see exactly the client's bytes. Anything else — headers, a null value (a
//! tombstone), or a value that happens to begin with [`MAGIC`] — is wrapped:
//!
//! ```text
//! MAGIC (5 bytes) | header_count u32 | (key_len u32 | key | value_len u32 | value)* | value_len u32 | value
//! ```
//!
//! all lengths big-endian, `u32::MAX` for a null header value or a null record value.
//! Because a plain value never starts with `MAGIC` (such a value is wrapped instead), the
//! reading side never mistakes one for the other.

use thiserror::Error;

/// First bytes of a wrapped value.
pub const MAGIC: [u8; 5] = [0xFF, 0x00, b'K', b'h', 0x01];

const NULL_LEN: u32 = u32::MAX;

/// One Kafka record header: a key and an optional value.
pub type Header = (Vec<u8>, Option<Vec<u8>>);

/// The parts of a Kafka record the log keeps in its value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payload {
    /// The record's value (`None`: null, a tombstone).
    pub value: Option<Vec<u8>>,
    /// The record's headers, in order (duplicate keys kept).
    pub headers: Vec<Header>,
}

/// A wrapped value that does not parse (the log's data is damaged, or was written by
/// something else with the same first bytes).
#[derive(Debug, Error, PartialEq, Eq)]
#[error("stored Kafka record value is malformed: {reason}")]
pub struct EnvelopeError {
    reason: &'static str,
}

/// The log value that stores `payload`.
pub fn wrap(payload: &Payload) -> Vec<u8> {
    match &payload.value {
        Some(value) if payload.headers.is_empty() && !value.starts_with(&MAGIC) => value.clone(),
        _ => wrap_always(payload),
    }
}

fn wrap_always(payload: &Payload) -> Vec<u8> {
    let mut out = Vec::with_capacity(MAGIC.len() + 8 + payload.value.as_ref().map_or(0, Vec::len));
    out.extend_from_slice(&MAGIC);
    put_len(&mut out, payload.headers.len());
    for (key, value) in &payload.headers {
        put_bytes(&mut out, Some(key));
        put_bytes(&mut out, value.as_deref());
    }
    put_bytes(&mut out, payload.value.as_deref());
    out
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    // Lengths come from a decoded request bounded by `request_bytes_max` (a u32), or
    // from a stored value the log bounds the same way.
    #[allow(clippy::expect_used)]
    let len = u32::try_from(len).expect("length below 4 GiB");
    out.extend_from_slice(&len.to_be_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        Some(bytes) => {
            put_len(out, bytes.len());
            out.extend_from_slice(bytes);
        }
        None => out.extend_from_slice(&NULL_LEN.to_be_bytes()),
    }
}

/// The Kafka payload a log value stores.
pub fn unwrap(stored: &[u8]) -> Result<Payload, EnvelopeError> {
    let Some(mut rest) = stored.strip_prefix(&MAGIC) else {
        return Ok(Payload {
            value: Some(stored.to_vec()),
            headers: Vec::new(),
        });
    };
    let count = take_u32(&mut rest)?;
    let mut headers = Vec::new();
    for _ in 0..count {
        let key = take_bytes(&mut rest)?.ok_or(EnvelopeError {
            reason: "null header key",
        })?;
        let value = take_bytes(&mut rest)?;
        headers.push((key, value));
    }
    let value = take_bytes(&mut rest)?;
    if !rest.is_empty() {
        return Err(EnvelopeError {
            reason: "trailing bytes",
        });
    }
    Ok(Payload { value, headers })
}

fn take_u32(rest: &mut &[u8]) -> Result<u32, EnvelopeError> {
    let Some((head, tail)) = rest.split_first_chunk::<4>() else {
        return Err(EnvelopeError {
            reason: "truncated length",
        });
    };
    *rest = tail;
    Ok(u32::from_be_bytes(*head))
}

fn take_bytes(rest: &mut &[u8]) -> Result<Option<Vec<u8>>, EnvelopeError> {
    let len = take_u32(rest)?;
    if len == NULL_LEN {
        return Ok(None);
    }
    let len = len as usize;
    if rest.len() < len {
        return Err(EnvelopeError {
            reason: "truncated bytes",
        });
    }
    let (bytes, tail) = rest.split_at(len);
    *rest = tail;
    Ok(Some(bytes.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(payload: Payload) {
        assert_eq!(unwrap(&wrap(&payload)), Ok(payload));
    }

    #[test]
    fn plain_values_are_stored_as_is() {
        let payload = Payload {
            value: Some(b"hello".to_vec()),
            headers: vec![],
        };
        assert_eq!(wrap(&payload), b"hello");
        round_trip(payload);
    }

    #[test]
    fn headers_nulls_and_lookalikes_round_trip() {
        round_trip(Payload {
            value: None,
            headers: vec![],
        });
        round_trip(Payload {
            value: Some(MAGIC.to_vec()),
            headers: vec![],
        });
        round_trip(Payload {
            value: Some(vec![]),
            headers: vec![(b"k".to_vec(), None), (b"k".to_vec(), Some(b"v".to_vec()))],
        });
    }

    #[test]
    fn damaged_envelopes_are_errors() {
        let mut bytes = wrap(&Payload {
            value: Some(b"v".to_vec()),
            headers: vec![(b"k".to_vec(), Some(b"v".to_vec()))],
        });
        bytes.pop();
        assert!(unwrap(&bytes).is_err());
    }
}
