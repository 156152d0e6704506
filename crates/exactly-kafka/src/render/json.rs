//! One consumed record as a JSON line, unambiguously.
//!
//! The log stores bytes; `exactly log produce` stores a JSON string value as its UTF-8 and
//! any other JSON value as its JSON text. Printing turns that around, field by field:
//!
//! - `value` is the JSON text itself when the bytes are a JSON document other than a string
//!   or `null` (printed verbatim, so `{"id":1}` reads back as an object, not as a string
//!   holding JSON);
//! - otherwise `value` is a JSON string holding the bytes when they are UTF-8 (so the bytes
//!   `"hi"`, quotes included, print as `"\"hi\""`, and the bytes `null` as `"null"`);
//! - otherwise there is no `value` but `value_hex`, the bytes in lower-case hex;
//! - `"value": null` is a Kafka tombstone (a null value), never the bytes `null`.
//!
//! Keys are never parsed as JSON (a key is a string to `log produce`, as to kcat): `key`
//! is the UTF-8 string, `null` when the record has none, or absent with `key_hex` beside
//! it. Kafka headers (kept in the value's envelope by `exactly serve`) print as kcat's
//! `-J` does: `"headers": [name, value, name, value, …]`, present only when the record
//! has headers; a header name or value that is not UTF-8 prints as `{"hex": …}`.

use crate::envelope::{self, Header};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;

/// A record as read from a log, before formatting.
pub struct ConsumedRecord<'a> {
    /// Topic name.
    pub topic: &'a str,
    /// Partition.
    pub partition: u32,
    /// Offset (the stream sequence for NATS logs).
    pub offset: u64,
    /// Event time in milliseconds.
    pub timestamp_ms: i64,
    /// Key bytes, if any.
    pub key: Option<&'a [u8]>,
    /// The value as stored (possibly a Kafka envelope).
    pub stored_value: &'a [u8],
}

impl<'a> ConsumedRecord<'a> {
    /// A record of `topic`/`partition` as the embedded log returned it.
    pub fn from_log(topic: &'a str, partition: u32, record: &'a exactly_log::StoredRecord) -> Self {
        Self {
            topic,
            partition,
            offset: record.offset.0,
            timestamp_ms: record.timestamp.0,
            key: record.key.as_deref(),
            stored_value: &record.value,
        }
    }
}

/// The parts of a record a reader sees: the stored value unwrapped from its Kafka
/// envelope when it has one.
pub struct Unwrapped {
    /// The value (`None`: a Kafka tombstone).
    pub value: Option<Vec<u8>>,
    /// Kafka headers, in order.
    pub headers: Vec<Header>,
    /// Set when the value starts like an envelope but does not parse: the value is then
    /// the stored bytes as they are.
    pub envelope_error: Option<String>,
}

/// Unwraps the Kafka envelope `exactly serve` keeps headers and null values in.
pub fn unwrap_value(stored: &[u8]) -> Unwrapped {
    match envelope::unwrap(stored) {
        Ok(payload) => Unwrapped {
            value: payload.value,
            headers: payload.headers,
            envelope_error: None,
        },
        Err(error) => Unwrapped {
            value: Some(stored.to_vec()),
            headers: Vec::new(),
            envelope_error: Some(error.to_string()),
        },
    }
}

/// The JSON line of `record` (without the newline).
pub fn json_line(record: &ConsumedRecord<'_>) -> Result<String, serde_json::Error> {
    let unwrapped = unwrap_value(record.stored_value);
    let (key, key_hex) = match record.key {
        None => (Some(KeyField::Null), None),
        Some(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => (Some(KeyField::Text(text)), None),
            Err(_) => (None, Some(hex(bytes))),
        },
    };
    let (value, value_hex) = match &unwrapped.value {
        None => (Some(ValueField::Null), None),
        Some(bytes) => value_field(bytes),
    };
    let headers = match unwrapped.headers.is_empty() {
        true => None,
        false => Some(headers_json(&unwrapped.headers)),
    };
    let line = Line {
        topic: record.topic,
        partition: record.partition,
        offset: record.offset,
        timestamp: record.timestamp_ms,
        key,
        key_hex,
        headers,
        value,
        value_hex,
        envelope_error: unwrapped.envelope_error,
    };
    serde_json::to_string(&line)
}

#[derive(Serialize)]
struct Line<'a> {
    topic: &'a str,
    partition: u32,
    offset: u64,
    timestamp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<KeyField<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_hex: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    headers: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<ValueField<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_hex: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    envelope_error: Option<String>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum KeyField<'a> {
    Null,
    Text(&'a str),
}

#[derive(Serialize)]
#[serde(untagged)]
enum ValueField<'a> {
    Null,
    Json(&'a RawValue),
    Text(&'a str),
}

/// `value` or `value_hex` for value bytes (see the module documentation).
fn value_field(bytes: &[u8]) -> (Option<ValueField<'_>>, Option<String>) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return (None, Some(hex(bytes)));
    };
    match json_document(text) {
        Some(raw) => (Some(ValueField::Json(raw)), None),
        None => (Some(ValueField::Text(text)), None),
    }
}

/// `text` as a JSON document printed verbatim, when it is one other than a string or
/// `null` and has no line break (a JSON line must stay one line; inside JSON strings a
/// line break is always escaped, so a raw one can only be whitespace between tokens).
fn json_document(text: &str) -> Option<&RawValue> {
    let first = text.as_bytes().first()?;
    if *first == b'"' || text.contains(['\n', '\r']) || text == "null" {
        return None;
    }
    // Leading or trailing whitespace would be lost by a reader that re-serializes.
    if text.trim() != text {
        return None;
    }
    serde_json::from_str::<&RawValue>(text).ok()
}

fn headers_json(headers: &[Header]) -> Vec<Value> {
    let mut out = Vec::with_capacity(headers.len() * 2);
    for (name, value) in headers {
        out.push(text_or_hex(name));
        out.push(match value {
            Some(value) => text_or_hex(value),
            None => Value::Null,
        });
    }
    out
}

fn text_or_hex(bytes: &[u8]) -> Value {
    match std::str::from_utf8(bytes) {
        Ok(text) => Value::String(text.to_string()),
        Err(_) => serde_json::json!({ "hex": hex(bytes) }),
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        // Writing into a String cannot fail.
        let _ = write!(out, "{byte:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(key: Option<&[u8]>, value: &[u8]) -> Value {
        let record = ConsumedRecord {
            topic: "t",
            partition: 1,
            offset: 2,
            timestamp_ms: 3,
            key,
            stored_value: value,
        };
        let text = json_line(&record).expect("a record always serializes");
        serde_json::from_str(&text).expect("the line is JSON")
    }

    #[test]
    fn json_values_print_as_json() {
        let v = line(Some(b"k"), br#"{"id":1,"b":[true]}"#);
        assert_eq!(v["value"], serde_json::json!({"id": 1, "b": [true]}));
        assert_eq!(v["key"], "k");
        assert_eq!(line(None, b"42")["value"], 42);
        assert_eq!(line(None, b"42")["key"], Value::Null);
    }

    #[test]
    fn strings_nulls_and_text_print_as_strings() {
        assert_eq!(line(None, br#""hi""#)["value"], r#""hi""#);
        assert_eq!(line(None, b"null")["value"], "null");
        assert_eq!(line(None, b"not json")["value"], "not json");
        assert_eq!(line(None, b" 1")["value"], " 1");
        assert_eq!(line(None, b"{\n}")["value"], "{\n}");
        assert_eq!(line(None, b"")["value"], "");
    }

    #[test]
    fn binary_prints_as_hex_fields() {
        let v = line(Some(&[0xff, 0x00]), &[0xc3, 0x28]);
        assert_eq!(v["key_hex"], "ff00");
        assert_eq!(v["value_hex"], "c328");
        assert!(v.get("key").is_none() && v.get("value").is_none());
    }

    #[test]
    fn kafka_envelope_shows_headers_and_tombstones() {
        let stored = envelope::wrap(&envelope::Payload {
            value: None,
            headers: vec![(b"h".to_vec(), Some(b"v".to_vec())), (b"n".to_vec(), None)],
        });
        let v = line(None, &stored);
        assert_eq!(v["value"], Value::Null);
        assert!(v.as_object().is_some_and(|o| o.contains_key("value")));
        assert_eq!(v["headers"], serde_json::json!(["h", "v", "n", null]));
    }
}
