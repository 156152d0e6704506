//! `exactly-log`: the embedded durable log — the "persistent storage" and the
//! "time-replayable source" of exactly's seed documents, with Kafka's idempotent producer.
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
//! - [`producer`]: the idempotent-producer table (sans-IO state machine, snapshots).
//! - [`config`]: [`LogConfig`], [`Durability`].
//! - [`error`]: one error enum per operation.
//! - `segment`: segment files and scanning; `partition`: one partition, a file per role
//!   (append and group commit, roll and retention, read path, markers, follower, recovery,
//!   consistency checks).
//! - `log`: [`Log`], topics and the public API.
//! - `scan`: [`Scan`], reading a partition to its end as of the call ([`Log::scan`]).
//! - [`scope`]: [`WriteScope`] — which topics a process owns ([`Log::open_scoped`]) and
//!   the per-topic locks that keep one writer per topic while other topics are followed.
//! - [`txn`]: transactions — the coordinator over `__transactions`, the
//!   [`TransactionalProducer`], consumer-group positions in `__consumer_offsets`.
//! - [`durable_end`]: the durable-end evidence format (pure); `evidence`: its file I/O.
//! - [`repair`]: the operator's explicit cut of damaged durable data.
//! - [`verify`]: read-only integrity check of a whole log directory.
//!
//! The byte layouts and recovery rules are in `docs/design.md`; the hazards and what
//! prevents each in `docs/SAFETY.md`.

pub mod batch;
pub mod config;
pub mod durable_end;
pub mod error;
mod evidence;
pub mod index;
mod log;
mod partition;
pub mod producer;
mod read_only_storage;
pub mod repair;
mod scan;
pub mod scope;
mod segment;
mod topic_meta;
pub mod txn;
pub mod verify;

pub use batch::{ProducerStamp, Record, StoredRecord};
pub use config::{Durability, LogConfig};
pub use error::{AppendError, MaintenanceError, OpenError, ReadError, TopicError};
pub use log::{partition_for_key, validate_topic_name, Log, PARTITIONS_MAX};
pub use partition::{
    AppendOutcome, Inconsistency, Isolation, PartitionInfo, ProducerSummary, ReadBatch,
    RecoveryEvent,
};
pub use read_only_storage::ReadOnlyStorage;
pub use scan::Scan;
pub use scope::WriteScope;
pub use segment::{index_file_name, segment_file_name};
pub use txn::{TransactionalProducer, TxnError, TxnMetadata, TxnState};
