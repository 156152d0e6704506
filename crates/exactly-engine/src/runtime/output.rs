//! [`Output`]: where a job's outputs, dead letters, audit records and journal go, as a
//! trait — the seam between the runtime (sinks, coordinator, recovery) and the system
//! holding the outputs. [`LogOutput`](super::LogOutput) is the embedded log (transactions,
//! the idempotent producer, the journal topic); a JetStream output lives in
//! `exactly-nats`.
//!
//! What the runtime relies on:
//! - `append` is a plain durable append (at-least-once, at-most-once, partial batches);
//!   durable when it returns;
//! - `publish_ahead` publishes a manifest's write-ahead outputs **idempotently**: called
//!   again with the same manifest (after a crash, by recovery) it publishes only what is
//!   missing, whatever time passed; it refuses (an error) when the outputs hold more of
//!   the job's write-ahead outputs than the manifest accounts for, and when a newer writer
//!   of the job has taken over;
//! - `outputs_beyond` finds the job's effects past a manifest (evidence that the newest
//!   checkpoints were lost), without settling anything;
//! - the journal: `journal_append` is durable when it returns, `journal_last` reads the
//!   newest entry;
//! - `transactional_log`: the log whose transactions the transactional sink mode uses;
//!   an output without transactions returns `None` and supports exactly-once only through
//!   the write-ahead (idempotent) sink mode.

use super::error::RunError;
use super::journal::JournalEntry;
use super::manifest::Manifest;
use super::report::RecoveryReport;
use exactly_log::{Log, Record};

/// A job's outputs (see the module documentation for the contract).
pub trait Output: Send + Sync {
    /// Where the outputs go, for messages (`log /data/x`, `nats://…`).
    fn describe(&self) -> String;

    /// The partition count of `topic`, `None` if it does not exist.
    fn partition_count(&self, topic: &str) -> Result<Option<u32>, RunError>;

    /// Creates `topic` with `partitions` unless it exists; returns its partition count.
    fn ensure_topic(&self, topic: &str, partitions: u32) -> Result<u32, RunError>;

    /// Bytes of records one `append` (or transactional send) should carry at most.
    fn append_bytes_max(&self) -> usize;

    /// Appends `records` to `partition` of `topic`; durable when it returns.
    fn append(&self, topic: &str, partition: u32, records: &[Record]) -> Result<(), RunError>;

    /// The embedded log whose transactions the transactional sink mode writes; `None`: this
    /// output has no transactions.
    fn transactional_log(&self) -> Option<&Log>;

    /// Recovery, before anything runs: settles what the last run left open against the
    /// restored manifest (commits the transactions it names, aborts the rest).
    fn settle(
        &self,
        job: &str,
        manifest: Option<&Manifest>,
        report: &mut RecoveryReport,
    ) -> Result<(), RunError>;

    /// Evidence of effects of job `job` in `topics` past `manifest` (outputs a newer,
    /// lost checkpoint published), `None` if there is none.
    fn outputs_beyond(
        &self,
        job: &str,
        topics: &[String],
        manifest: Option<&Manifest>,
    ) -> Result<Option<String>, RunError>;

    /// Publishes `manifest`'s write-ahead outputs, skipping what the outputs already
    /// hold; returns the records published.
    fn publish_ahead(&self, job: &str, manifest: &Manifest) -> Result<u64, RunError>;

    /// Appends a journal entry; durable when it returns.
    fn journal_append(&self, entry: &JournalEntry, now_ms: i64) -> Result<(), RunError>;

    /// The newest journal entry of `job`, if its journal has any.
    fn journal_last(&self, job: &str) -> Result<Option<JournalEntry>, RunError>;
}
