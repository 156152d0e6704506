//! The log's metrics, through the `metrics` facade: nothing is recorded until the program
//! installs a recorder (the `exactly` binary's `--metrics ADDR` installs a Prometheus one),
//! and then only handles registered after it was installed record — install it before
//! opening the log.
//!
//! Handles are registered once per partition when it opens, so the append and read paths
//! pay one atomic add per batch (never per record, never a label lookup). Names follow
//! Prometheus conventions: unit last, `_total` on counters.
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `exactly_log_appended_records_total` | counter | topic, partition |
//! | `exactly_log_appended_bytes_total` | counter | topic, partition |
//! | `exactly_log_duplicate_batches_total` (idempotent retries dropped) | counter | topic, partition |
//! | `exactly_log_read_records_total` | counter | topic, partition |
//! | `exactly_log_fsync_seconds` | histogram | topic, partition |
//! | `exactly_log_lso_lag_records` (visible end − last stable offset) | gauge | topic, partition |
//! | `exactly_log_transactions_committed_total`, `…_aborted_total` | counter | — |
//! | `exactly_log_transactions_open` | gauge | — |

use crate::txn::TxnState;
use metrics::{counter, gauge, histogram, Counter, Gauge, Histogram};
use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

/// Records appended to a partition.
pub const APPENDED_RECORDS: &str = "exactly_log_appended_records_total";
/// Bytes (whole batches) appended to a partition.
pub const APPENDED_BYTES: &str = "exactly_log_appended_bytes_total";
/// Idempotent retries recognised and dropped (the producer de-duplication hits).
pub const DUPLICATE_BATCHES: &str = "exactly_log_duplicate_batches_total";
/// Records handed to readers.
pub const READ_RECORDS: &str = "exactly_log_read_records_total";
/// Duration of each group-commit `fdatasync`.
pub const FSYNC_SECONDS: &str = "exactly_log_fsync_seconds";
/// How far `read_committed` readers are held back: visible end minus last stable offset.
pub const LSO_LAG_RECORDS: &str = "exactly_log_lso_lag_records";
/// Transactions the coordinator committed.
pub const TRANSACTIONS_COMMITTED: &str = "exactly_log_transactions_committed_total";
/// Transactions the coordinator aborted (by the producer, by a timeout or by fencing).
pub const TRANSACTIONS_ABORTED: &str = "exactly_log_transactions_aborted_total";
/// Transactions begun and not yet decided.
pub const TRANSACTIONS_OPEN: &str = "exactly_log_transactions_open";

/// Describes the log's metrics to the installed recorder (the `# HELP` lines).
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        APPENDED_RECORDS,
        Unit::Count,
        "Records appended to a partition (markers included)."
    );
    describe_counter!(
        APPENDED_BYTES,
        Unit::Bytes,
        "Bytes of whole batches appended to a partition."
    );
    describe_counter!(
        DUPLICATE_BATCHES,
        Unit::Count,
        "Idempotent retries recognised and dropped."
    );
    describe_counter!(READ_RECORDS, Unit::Count, "Records handed to readers.");
    describe_histogram!(
        FSYNC_SECONDS,
        Unit::Seconds,
        "Duration of each group-commit fdatasync."
    );
    describe_gauge!(
        LSO_LAG_RECORDS,
        Unit::Count,
        "Visible end minus last stable offset: records read_committed readers wait for."
    );
    describe_counter!(
        TRANSACTIONS_COMMITTED,
        Unit::Count,
        "Transactions whose commit was recorded durably."
    );
    describe_counter!(
        TRANSACTIONS_ABORTED,
        Unit::Count,
        "Transactions whose abort was recorded durably."
    );
    describe_gauge!(
        TRANSACTIONS_OPEN,
        Unit::Count,
        "Transactions begun and not yet decided."
    );
}

/// One partition's metric handles.
#[derive(Debug)]
pub(crate) struct PartitionMeters {
    appended_records: Counter,
    appended_bytes: Counter,
    duplicate_batches: Counter,
    read_records: Counter,
    fsync_seconds: Histogram,
    lso_lag_records: Gauge,
}

impl PartitionMeters {
    /// Registers the handles of `topic`'s `partition` with the installed recorder.
    pub fn new(topic: &str, partition: u32) -> Self {
        let labels = [
            ("topic", topic.to_string()),
            ("partition", partition.to_string()),
        ];
        Self {
            appended_records: counter!(APPENDED_RECORDS, &labels),
            appended_bytes: counter!(APPENDED_BYTES, &labels),
            duplicate_batches: counter!(DUPLICATE_BATCHES, &labels),
            read_records: counter!(READ_RECORDS, &labels),
            fsync_seconds: histogram!(FSYNC_SECONDS, &labels),
            lso_lag_records: gauge!(LSO_LAG_RECORDS, &labels),
        }
    }

    pub fn appended(&self, records: u32, bytes: usize) {
        self.appended_records.increment(u64::from(records));
        self.appended_bytes.increment(bytes as u64);
    }

    pub fn duplicate(&self) {
        self.duplicate_batches.increment(1);
    }

    pub fn read(&self, records: usize) {
        self.read_records.increment(records as u64);
    }

    pub fn fsynced(&self, took: Duration) {
        self.fsync_seconds.record(took.as_secs_f64());
    }

    pub fn lso_lag(&self, records: u64) {
        // Gauges are f64; a lag beyond 2^53 records is not representable exactly and
        // does not need to be.
        self.lso_lag_records.set(records as f64);
    }
}

/// The transaction coordinator's metric handles, and the transactional ids with a
/// transaction open (kept up to date per operation, so the gauge costs O(1) per operation
/// however many ids the coordinator knows).
#[derive(Debug)]
pub(crate) struct TxnMeters {
    committed: Counter,
    aborted: Counter,
    open: Gauge,
    open_ids: Mutex<HashSet<String>>,
}

impl TxnMeters {
    pub fn new() -> Self {
        Self {
            committed: counter!(TRANSACTIONS_COMMITTED),
            aborted: counter!(TRANSACTIONS_ABORTED),
            open: gauge!(TRANSACTIONS_OPEN),
            open_ids: Mutex::default(),
        }
    }

    /// A decision was recorded durably: the transaction is committed (or aborted) from
    /// here on, whenever its markers land.
    pub fn decided(&self, committed: bool) {
        match committed {
            true => self.committed.increment(1),
            false => self.aborted.increment(1),
        }
    }

    /// Notes `transactional_id`'s state after an operation (`None`: unknown to the table).
    pub fn track(&self, transactional_id: &str, state: Option<TxnState>) {
        let is_open = matches!(state, Some(TxnState::Ongoing | TxnState::Prepared));
        // The set is only ever mutated by one insert or remove at a time: a panic cannot
        // leave it half-updated, so a poisoned lock's data is still right.
        let mut open_ids = self.open_ids.lock().unwrap_or_else(|e| e.into_inner());
        let changed = match is_open {
            true => open_ids.insert(transactional_id.to_string()),
            false => open_ids.remove(transactional_id),
        };
        if changed {
            self.open.set(open_ids.len() as f64);
        }
    }
}
