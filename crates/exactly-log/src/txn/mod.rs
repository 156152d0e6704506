//! Transactions: atomic writes to many partitions, with consumer positions, visible to
//! `read_committed` readers all at once or never (Kafka's protocol, on one node).
//!
//! # Protocol
//! The coordinator keeps one [`TxnMetadata`] per transactional id in the internal topic
//! `__transactions` (one durable record per state change; the last one per id wins).
//!
//! - `init`: a transactional id gets a producer id (allocated from 2^62 up, so they never
//!   meet ids chosen by hand) and its epoch is bumped, fencing any older instance. An open
//!   transaction of the previous instance is aborted; a *prepared* one is handed over (with a new epoch, so the old instance can no longer decide it).
//! - `begin`: the epoch is bumped again — **one epoch per transaction** (KIP-890's rule) —
//!   so a late commit/abort marker or append of transaction *n* carries an older epoch than
//!   transaction *n + 1* and every partition refuses it (`ProducerFenced`).
//! - `send` to a partition not yet in the transaction first records the partition durably,
//!   so recovery knows where markers must go, then appends a transactional batch.
//! - `add_offsets` writes consumer-group positions to `__consumer_offsets` inside the
//!   transaction: they become visible with the outputs, never before.
//! - `prepare` records `Prepared` durably; from then on only commit or abort may follow,
//!   from this instance or from one created after a restart.
//! - `commit`/`abort` record `PrepareCommit`/`PrepareAbort` durably (the decision point),
//!   write a marker to every partition of the transaction, then record the completion.
//!
//! # Recovery
//! On open: `PrepareCommit`/`PrepareAbort` are completed (markers are idempotent: a
//! partition with nothing open for the producer ignores a repeated marker); `Ongoing` is
//! aborted; `Prepared` waits for a decision. Ongoing transactions older than their timeout
//! are aborted, with an epoch bump, whenever the coordinator is used. Markers lost from
//! partitions are written again from the recorded decisions (see [`snapshot`] for how far
//! back decisions are kept).
//!
//! # Layout
//! The arrows go from here to the log, never back: the log knows markers and isolation,
//! nothing else of transactions.
//! - [`table`]: the pure state machine ([`TxnTable`]): transitions return effects.
//! - `coordinator`: performs those effects outside the table lock, one id at a time.
//! - `producer`: [`TransactionalProducer`].
//! - `markers`: writing markers, reconciling lost ones ([`PendingMarker`]).
//! - `offsets`: consumer-group positions, answered from memory.
//! - [`offsets_snapshot`]: the compacted snapshot that bounds what reading positions scans.
//! - `history`: `__transactions` records on disk.
//! - [`snapshot`]: the compacted snapshot that bounds what an open replays.
//! - `api`: the transaction methods of [`crate::Log`].
//! - [`topics`]: internal topic names and constants.
//! - `error`: [`TxnError`].

mod api;
mod coordinator;
mod error;
mod history;
mod markers;
mod offsets;
pub mod offsets_snapshot;
mod producer;
pub mod snapshot;
mod state;
pub mod table;
pub mod topics;
mod trailing;

pub use error::TxnError;
pub use markers::PendingMarker;
pub use producer::TransactionalProducer;
pub use table::{TxnMetadata, TxnState, TxnTable};
pub use topics::{
    DEFAULT_TXN_TIMEOUT_MS, FIRST_ALLOCATED_PRODUCER_ID, OFFSETS_TOPIC, TRANSACTIONS_TOPIC,
};
