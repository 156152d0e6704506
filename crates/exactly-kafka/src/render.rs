//! Records printed as `exactly log consume` prints them, for a Rust program that wants the
//! same output: one JSON object per line ([`json`]: JSON values as JSON, text as strings,
//! binary as hex, Kafka headers and tombstones from the value's [`crate::envelope`]), the
//! raw bytes as kcat prints them, or a table for a person ([`printer`]).
//!
//! It lives beside the envelope because a stored value is only understood once the
//! envelope `exactly serve` wraps Kafka headers and null values in is taken off.
//!
//! # Example
//! ```
//! use exactly_kafka::render::{ConsumedRecord, OutputFormat, RecordPrinter};
//!
//! let record = ConsumedRecord {
//!     topic: "t",
//!     partition: 0,
//!     offset: 7,
//!     timestamp_ms: 1,
//!     key: Some(b"k"),
//!     stored_value: br#"{"id":1}"#,
//! };
//! let mut out = Vec::new();
//! RecordPrinter::new(OutputFormat::Json, None, None).write(&mut out, &record)?;
//! assert_eq!(
//!     String::from_utf8(out).unwrap(),
//!     "{\"topic\":\"t\",\"partition\":0,\"offset\":7,\"timestamp\":1,\"key\":\"k\",\"value\":{\"id\":1}}\n"
//! );
//! # Ok::<(), std::io::Error>(())
//! ```

pub mod json;
pub mod printer;

pub use json::{hex, json_line, unwrap_value, ConsumedRecord, Unwrapped};
pub use printer::{escape, OutputFormat, PrintingSink, RecordPrinter};
