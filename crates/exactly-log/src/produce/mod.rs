//! Resumable, idempotent producing of a JSON-lines input into a topic.
//!
//! [`produce_lines`] reads `{"key": …, "value": …, "timestamp": …}` lines, routes each
//! record to a partition (by key, else round-robin), cuts deterministic batches and appends
//! them — partitions in parallel, each in input order. With a producer id (and epoch),
//! every record's sequence number is its position among the input records routed to its
//! partition, so running the same input again after a crash re-sends the same batches:
//! the log answers `Duplicate` for those it already has and appends the rest — exactly
//! once. That the input *is* the same is checked, not assumed, by a write-ahead
//! [`InputFingerprint`] kept under `<log dir>/.produce-inputs/`: a different input is
//! refused with the first line that differs ([`FingerprintError::Differs`]). A higher
//! epoch fences older instances and appends the whole input again as new records.
//!
//! A bad line stops the run with [`Stopped`]: every record before it is in the log, and
//! the error names the line and how many records were kept.
//!
//! # Layout
//! - [`record`]: one line as a [`crate::Record`], and its size bound.
//! - [`fingerprint`]: the durable input fingerprint.
//! - [`batcher`]: the [`Batcher`] and its appender threads.
//! - [`driver`]: [`produce_lines`], reading lines into the batcher.
//! - [`transaction`]: a JSON-lines input naming its topics, written in one transaction
//!   (`exactly log txn`).
//!
//! # Example
//! ```
//! use exactly_core::{ProducerEpoch, ProducerId, SystemClock};
//! use exactly_log::produce::{produce_lines, ProduceOptions};
//! use exactly_log::{Log, LogConfig};
//! use std::sync::Arc;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = std::env::temp_dir().join(format!("produce-doc-{}", std::process::id()));
//! let log = Arc::new(Log::open(&dir, LogConfig::default())?);
//! log.create_topic("t", 2)?;
//! let input = "{\"key\":\"a\",\"value\":\"1\"}\n{\"value\":\"2\"}\n";
//! let options = ProduceOptions {
//!     producer: Some((ProducerId(7), ProducerEpoch(0))),
//!     batch_records: 100,
//! };
//! let first = produce_lines(&log, "t", options, input.as_bytes(), &SystemClock, &mut |_| {})?;
//! assert_eq!(first.appended, 2);
//! // Run again (as after a crash): nothing is appended twice.
//! let again = produce_lines(&log, "t", options, input.as_bytes(), &SystemClock, &mut |_| {})?;
//! assert_eq!((again.appended, again.deduplicated), (0, 2));
//! # drop(log);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```

pub mod batcher;
pub mod driver;
pub mod fingerprint;
pub mod record;
pub mod transaction;

pub use batcher::{AdmitError, Batcher, BatcherError};
pub use driver::{produce_lines, InputError, ProduceError, ProduceOptions, Produced, Stopped};
pub use fingerprint::{line_hash, FingerprintError, InputFingerprint};
pub use record::{parse_json_line, record_bytes_bound, RecordError};
