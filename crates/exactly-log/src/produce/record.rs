//! One input line of a producer as a [`Record`]: the JSON-lines format
//! `{"key": …, "value": …, "timestamp": …}` and the size bound batches are cut by.

use crate::Record;
use exactly_core::Timestamp;
use serde::Deserialize;

/// Why a line is not a record.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The line is not a JSON object with the expected fields.
    #[error("want a JSON object {{\"key\":…, \"value\":…, \"timestamp\":…}}")]
    Json(#[source] serde_json::Error),
    /// The key is neither a string nor null.
    #[error("key must be a string or null, got {got}")]
    Key {
        /// The key found, as JSON.
        got: serde_json::Value,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InputRecord {
    #[serde(default)]
    key: Option<serde_json::Value>,
    value: serde_json::Value,
    #[serde(default)]
    timestamp: Option<i64>,
}

/// Parses one JSON line into a record. A string value is stored as its bytes, any other
/// JSON value as its JSON text; `now_ms` stamps a record without a timestamp.
///
/// ```
/// let record = exactly_log::produce::parse_json_line(r#"{"key":"k","value":{"n":1}}"#, 7)
///     .map_err(|e| e.to_string())?;
/// assert_eq!(record.key.as_deref(), Some(&b"k"[..]));
/// assert_eq!(record.value, br#"{"n":1}"#);
/// assert_eq!(record.timestamp.0, 7);
/// # Ok::<(), String>(())
/// ```
pub fn parse_json_line(line: &str, now_ms: i64) -> Result<Record, RecordError> {
    let input: InputRecord = serde_json::from_str(line).map_err(RecordError::Json)?;
    let key = match input.key {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(k)) => Some(k.into_bytes()),
        Some(got) => return Err(RecordError::Key { got }),
    };
    let value = match input.value {
        serde_json::Value::String(v) => v.into_bytes(),
        other => other.to_string().into_bytes(),
    };
    // A missing timestamp is documented to mean "now": not a silent default.
    let timestamp = match input.timestamp {
        Some(ms) => ms,
        None => now_ms,
    };
    Ok(Record {
        timestamp: Timestamp(timestamp),
        key,
        value,
    })
}

/// Most bytes a record takes in an encoded batch: its key and value plus four varints
/// (record length, timestamp delta, key length, value length) of at most 10 bytes each.
/// A bound rather than the exact size, so that batch cuts do not depend on timestamps
/// (records without one are stamped with the clock, which differs between runs).
pub fn record_bytes_bound(record: &Record) -> usize {
    record.key.as_ref().map_or(0, Vec::len) + record.value.len() + 40
}
