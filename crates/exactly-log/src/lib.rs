//! `exactly-log`: the embedded durable log — persistent storage that is also a
//! time-replayable source (any consumer can re-read from any offset or time), with Kafka's
//! idempotent producer and transactions.
//!
//! A [`Log`] is a directory of topics; each topic has partitions; each partition is a
//! sequence of segment files holding CRC32C-checked record batches, with a sparse offset
//! and time index per segment. Appends are group-committed with an explicit
//! [`Durability`]; idempotent producers (producer id, epoch, sequence) make retries safe;
//! recovery truncates a torn tail, refuses to skip corruption and refuses to cut data its
//! durable-end evidence shows was durable (`exactly log repair` is the explicit cut). All
//! file access goes through [`exactly_core::Storage`], so every crash point can be
//! simulated.
//!
//! # Layout
//! - [`batch`]: the on-disk batch format (pure encode/decode, CRC).
//! - [`index`]: the sparse offset and time index of a segment (pure).
//! - [`produce`]: resumable idempotent producing of a JSON-lines input (batcher, input
//!   fingerprint).
//! - [`producer`]: the idempotent-producer table (sans-IO state machine, snapshots).
//! - [`consume`]: reading a topic as `exactly log consume` does (from an offset or a
//!   time, to the end or following the tail).
//! - [`describe`]: a log's partitions and transactions as `exactly log describe` prints
//!   them.
//! - [`copy`]: the consume-transform-produce loop (exactly-once or at-least-once).
//! - [`config`]: [`LogConfig`], [`Durability`].
//! - [`error`]: one error enum per operation.
//! - [`existing`]: opening a log directory that must already exist.
//! - `segment`: segment files and scanning; `partition`: one partition, a file per role
//!   (append and group commit, roll and retention, read path, markers, follower, recovery,
//!   consistency checks).
//! - `log`: [`Log`], topics and the public API; `open`: its constructors (the log's
//!   recovery, then the transaction coordinator's).
//! - `scan`: [`Scan`], reading a partition to its end as of the call ([`Log::scan`]).
//! - [`scope`]: [`WriteScope`] — which topics a process owns ([`Log::open_scoped`]) and
//!   the per-topic locks that keep one writer per topic while other topics are followed.
//! - [`txn`]: transactions — the coordinator over `__transactions`, the
//!   [`TransactionalProducer`], consumer-group positions in `__consumer_offsets`.
//! - [`durable_end`]: the durable-end evidence format (pure); `evidence`: its file I/O.
//! - [`meters`]: the log's metrics (appends, reads, de-duplication, fsync latency, LSO lag,
//!   transactions) through the `metrics` facade, recorded once a recorder is installed.
//! - [`repair`]: the operator's explicit cut of damaged durable data.
//! - [`verify`]: read-only integrity check of a whole log directory.
//!
//! The byte layouts and recovery rules are in `docs/design.md`; the hazards and what
//! prevents each in `docs/SAFETY.md`.
//!
//! # Example
//! ```
//! use exactly_core::{Offset, Timestamp};
//! use exactly_log::{Log, LogConfig, Record};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let log = Log::open(dir.path(), LogConfig::default())?;
//! log.create_topic("payments", 2)?;
//! let record = |value: &str| Record { timestamp: Timestamp(0), key: None, value: value.into() };
//! // A plain append: durable when it returns (the default durability is immediate).
//! log.append("payments", 0, &[record("opened")], None)?;
//! // A transaction: read_committed readers see both records together, or never.
//! let mut producer = log.transactional_producer("copier", 60_000)?;
//! producer.begin()?;
//! producer.send("payments", 1, &[record("debit"), record("credit")])?;
//! producer.commit()?;
//! drop(producer); // it borrows the log
//! let read = log.read("payments", 1, Offset(0), 100)?;
//! let values: Vec<&[u8]> = read.iter().map(|r| r.value.as_slice()).collect();
//! assert_eq!(values, [b"debit".as_slice(), b"credit".as_slice()]);
//! log.close()?;
//! # Ok(()) }
//! ```

pub mod batch;
pub mod config;
pub mod consume;
pub mod copy;
pub mod describe;
pub mod durable_end;
pub mod error;
mod evidence;
pub mod existing;
pub mod index;
mod log;
pub mod meters;
mod open;
mod partition;
pub mod produce;
pub mod producer;
mod read_only_storage;
pub mod repair;
mod scan;
pub mod scope;
mod segment;
mod topic;
mod topic_meta;
pub mod txn;
pub mod verify;

pub use batch::{ProducerStamp, Record, StoredRecord};
pub use config::{Durability, LogConfig, MarkerSync};
pub use error::{AppendError, MaintenanceError, OpenError, ReadError, TopicError};
pub use log::Log;
pub use partition::{
    AppendOutcome, Inconsistency, Isolation, PartitionInfo, ProducerSummary, ReadBatch,
    RecoveryEvent,
};
pub use read_only_storage::ReadOnlyStorage;
pub use scan::Scan;
pub use scope::WriteScope;
pub use segment::{index_file_name, segment_file_name};
pub use topic::{partition_for_key, validate_topic_name, PARTITIONS_MAX};
pub use txn::{PendingMarker, TransactionalProducer, TxnError, TxnMetadata, TxnState};
