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
//! are aborted, with an epoch bump, whenever the coordinator is used.

use crate::batch::{ControlKind, ProducerStamp, Record, ATTR_TRANSACTIONAL};
use crate::error::{AppendError, ReadError, TopicError};
use crate::log::Log;
use crate::partition::AppendOutcome;
use exactly_core::{Offset, ProducerEpoch, ProducerId, Sequence, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Internal topic holding transaction state.
pub const TRANSACTIONS_TOPIC: &str = "__transactions";
/// Internal topic holding consumer-group positions.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";
/// Producer ids the coordinator allocates start here.
pub const FIRST_ALLOCATED_PRODUCER_ID: u64 = 1 << 62;
/// Default transaction timeout.
pub const DEFAULT_TXN_TIMEOUT_MS: i64 = 60_000;
/// A transaction never begins within this many epochs of `u16::MAX` (it takes a fresh
/// producer id instead): aborting it and handing it over bump the epoch again, and those
/// bumps must still fence. Saturating at `u16::MAX` left old instances unfenced.
const EPOCH_HEADROOM: u16 = 16;

/// Where a transactional id stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnState {
    /// No transaction open.
    Empty,
    /// Open: appends may follow.
    Ongoing,
    /// Durable and waiting for commit or abort (two-phase commit).
    Prepared,
    /// Commit decided; markers being written.
    PrepareCommit,
    /// Abort decided; markers being written.
    PrepareAbort,
    /// Committed.
    CompleteCommit,
    /// Aborted.
    CompleteAbort,
}

/// A transactional id's durable state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnMetadata {
    /// The application's name for the producer.
    pub transactional_id: String,
    /// Producer id it owns.
    pub producer_id: u64,
    /// Current epoch (one per transaction).
    pub epoch: u16,
    /// State of the current transaction.
    pub state: TxnState,
    /// Partitions the current transaction has written to.
    pub partitions: BTreeSet<(String, u32)>,
    /// Abort an open transaction after this long.
    pub timeout_ms: i64,
    /// Wall time the current transaction began.
    pub started_ms: i64,
    /// Epoch of the current transaction's batches (its epoch at `begin`; `epoch` may be
    /// bumped since by an abort or a hand-over). Its markers carry exactly this epoch.
    /// `None` in records written before it existed: `epoch` is used then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub txn_epoch: Option<u16>,
}

/// Why a transactional operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TxnError {
    /// A newer instance (or a timeout abort) bumped the epoch: this instance is a zombie.
    #[error("transactional id '{transactional_id}' is fenced: epoch {epoch} < {current_epoch}")]
    Fenced {
        /// Transactional id.
        transactional_id: String,
        /// This instance's epoch.
        epoch: u16,
        /// The coordinator's epoch.
        current_epoch: u16,
    },
    /// The operation does not fit the transaction's state.
    #[error("cannot {operation} transaction '{transactional_id}' in state {state:?}")]
    InvalidState {
        /// Transactional id.
        transactional_id: String,
        /// Attempted operation.
        operation: &'static str,
        /// Current state.
        state: TxnState,
    },
    /// The transaction ran past its timeout and was aborted.
    #[error("transaction '{transactional_id}' timed out after {timeout_ms} ms and was aborted")]
    TimedOut {
        /// Transactional id.
        transactional_id: String,
        /// The timeout.
        timeout_ms: i64,
    },
    /// The id's previous transaction is decided but its marker for a partition outside
    /// this handle's write scope is not written: a new transaction would overwrite the
    /// decision that completes it.
    #[error(
        "transaction '{transactional_id}' is decided but its marker for {topic}/{partition} \
         is not written; open the log owning '{topic}' to complete it"
    )]
    PendingOutsideScope {
        /// Transactional id.
        transactional_id: String,
        /// A topic still waiting for the marker.
        topic: String,
        /// Its partition.
        partition: u32,
    },
    /// Internal topics cannot be written directly.
    #[error("topic '{topic}' is internal")]
    InternalTopic {
        /// The topic.
        topic: String,
    },
    /// Transaction state in `__transactions` does not parse.
    #[error("corrupt transaction record at offset {offset}: {reason}")]
    CorruptState {
        /// Offset in `__transactions`.
        offset: u64,
        /// Why.
        reason: String,
    },
    /// A transaction or position record could not be serialised (nothing was written).
    #[error("encoding the {what} record of '{key}' failed: {reason}")]
    Encode {
        /// Which record: "transaction state" or "consumer position".
        what: &'static str,
        /// Its transactional id or group/topic/partition key.
        key: String,
        /// The serialiser's message.
        reason: String,
    },
    /// An append failed.
    #[error(transparent)]
    Append(#[from] AppendError),
    /// A read failed.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// Creating an internal topic failed.
    #[error(transparent)]
    Topic(#[from] TopicError),
}

/// A transaction marker recovery left unwritten because its partition is outside the
/// recovering process's write scope ([`Log::open_scoped`]). The transaction stays decided
/// but not complete: `read_committed` readers of that partition stop at its first record
/// (the last stable offset) until a process owning the topic and `__transactions` opens
/// the log and writes the marker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingMarker {
    /// The transaction's id (`None`: found only as an open span in the partition).
    pub transactional_id: Option<String>,
    /// Topic of the partition.
    pub topic: String,
    /// Partition number.
    pub partition: u32,
    /// The transaction's producer id.
    pub producer_id: u64,
    /// The epoch of the transaction's batches in that partition.
    pub epoch: u16,
    /// The marker the decision calls for.
    pub kind: ControlKind,
}

/// The coordinator's in-memory view of `__transactions`.
#[derive(Debug, Default)]
pub(crate) struct TxnTable {
    txns: BTreeMap<String, TxnMetadata>,
    next_producer_id: u64,
    loaded: bool,
}

impl Log {
    fn internal_topic(&self, name: &str) -> Result<(), TxnError> {
        if self.partition_count(name).is_none() {
            self.create_topic(name, 1)?;
        }
        Ok(())
    }

    /// Loads `__transactions` once (called with the table locked).
    fn load_txns(&self, table: &mut TxnTable) -> Result<(), TxnError> {
        if table.loaded {
            return Ok(());
        }
        table.next_producer_id = FIRST_ALLOCATED_PRODUCER_ID;
        if self.partition_count(TRANSACTIONS_TOPIC).is_some() {
            for meta in self.txn_history()? {
                table.next_producer_id = table.next_producer_id.max(meta.producer_id + 1);
                table.txns.insert(meta.transactional_id.clone(), meta);
            }
        }
        table.loaded = true;
        Ok(())
    }

    /// Durably records a state change.
    fn write_txn(&self, meta: &TxnMetadata) -> Result<(), TxnError> {
        self.write_txn_lazily(meta)?;
        self.flush_partition(TRANSACTIONS_TOPIC, 0)?;
        Ok(())
    }

    /// Records a state change whose loss recovery repairs (no fsync wait).
    fn write_txn_lazily(&self, meta: &TxnMetadata) -> Result<(), TxnError> {
        self.internal_topic(TRANSACTIONS_TOPIC)?;
        let record = Record {
            timestamp: Timestamp(self.now_ms()),
            key: Some(meta.transactional_id.as_bytes().to_vec()),
            // An empty value here used to be written (and fsynced) as the new state of the
            // id, which the next open then refused as corrupt.
            value: serde_json::to_vec(meta).map_err(|e| TxnError::Encode {
                what: "transaction state",
                key: meta.transactional_id.clone(),
                reason: e.to_string(),
            })?,
        };
        self.append_internal_lazily(TRANSACTIONS_TOPIC, 0, &[record])?;
        Ok(())
    }

    /// Writes `kind` markers for `meta`'s transaction to all its partitions, then records
    /// the completion. `meta.state` must already be the durable decision.
    ///
    /// A partition outside this handle's write scope gets no marker: the transaction is
    /// left decided (its state unchanged) with a [`PendingMarker`], and the next process
    /// owning that topic completes it (each partition ignores a repeated marker).
    fn finish_txn(&self, meta: &mut TxnMetadata, kind: ControlKind) -> Result<(), TxnError> {
        let producer_id = ProducerId(meta.producer_id);
        let fence_epoch = ProducerEpoch(meta.epoch);
        let mut left_pending = false;
        for (topic, partition) in &meta.partitions {
            if !self.owns_topic(topic) {
                // Followed read-only: if no transaction of this producer is open there any
                // more, its owner has already written the marker.
                if self
                    .open_txn_epoch(topic, *partition, producer_id)?
                    .is_none()
                {
                    continue;
                }
                left_pending = true;
                self.note_pending_marker(PendingMarker {
                    transactional_id: Some(meta.transactional_id.clone()),
                    topic: topic.clone(),
                    partition: *partition,
                    producer_id: meta.producer_id,
                    // Records written before `txn_epoch` existed carry only `epoch`.
                    epoch: meta.txn_epoch.unwrap_or(meta.epoch),
                    kind,
                });
                continue;
            }
            let epoch = match meta.txn_epoch {
                Some(epoch) => epoch,
                // Recorded before `txn_epoch` existed (the epoch may have been bumped since
                // the data was written): the producer's open transaction there is this one
                // if it is not newer than the coordinator's epoch.
                None => self
                    .open_txn_epoch(topic, *partition, producer_id)?
                    .filter(|open| *open <= meta.epoch)
                    .unwrap_or(meta.epoch),
            };
            let epoch = ProducerEpoch(epoch);
            self.append_marker(topic, *partition, producer_id, epoch, fence_epoch, kind)?;
        }
        if left_pending {
            return Ok(());
        }
        meta.state = match kind {
            ControlKind::Commit => TxnState::CompleteCommit,
            ControlKind::Abort => TxnState::CompleteAbort,
        };
        // Every marker is durable: recovery no longer needs the partition list. The
        // completion record is not waited for: if a crash loses it, recovery finds the
        // decision, re-sends the markers (each partition ignores a repeat) and completes.
        meta.partitions.clear();
        self.write_txn_lazily(meta)
    }

    /// Aborts an open transaction with a bumped epoch (fencing its producer).
    fn abort_open(&self, meta: &mut TxnMetadata) -> Result<(), TxnError> {
        meta.epoch = meta.epoch.saturating_add(1);
        meta.state = TxnState::PrepareAbort;
        self.write_txn(meta)?;
        self.finish_txn(meta, ControlKind::Abort)
    }

    /// A marker recovery left pending for `transactional_id`'s decided transaction.
    fn pending_marker_of(&self, transactional_id: &str) -> Option<PendingMarker> {
        self.pending_markers()
            .into_iter()
            .find(|p| p.transactional_id.as_deref() == Some(transactional_id))
    }

    /// Completes what a crash interrupted: decided transactions get their markers, open
    /// ones are aborted, prepared ones wait. Called when a log is opened.
    pub(crate) fn recover_transactions(&self) -> Result<(), TxnError> {
        if self.partition_count(TRANSACTIONS_TOPIC).is_none() {
            return Ok(());
        }
        let mut table = crate::partition::lock(self.txn_table());
        self.load_txns(&mut table)?;
        let ids: Vec<String> = table.txns.keys().cloned().collect();
        for id in ids {
            let Some(meta) = table.txns.get_mut(&id) else {
                continue;
            };
            match meta.state {
                TxnState::PrepareCommit => self.finish_txn(meta, ControlKind::Commit)?,
                TxnState::PrepareAbort => self.finish_txn(meta, ControlKind::Abort)?,
                TxnState::Ongoing => self.abort_open(meta)?,
                _ => {}
            }
        }
        let live: Vec<TxnMetadata> = table
            .txns
            .values()
            .filter(|m| m.state == TxnState::Prepared)
            .cloned()
            .collect();
        drop(table);
        self.reconcile_markers(&live)
    }

    /// Ends every transaction still open in a partition although the coordinator has
    /// decided it (its marker was lost: cut by `log repair`, or not durable before an OS
    /// crash) with the marker decided in `__transactions` for that exact producer id and
    /// epoch; one that was never decided and is not prepared is aborted. A lost COMMIT
    /// otherwise pinned the last stable offset forever; a lost ABORT let a later commit of
    /// the same id expose the aborted records.
    fn reconcile_markers(&self, prepared: &[TxnMetadata]) -> Result<(), TxnError> {
        let open = self.open_transactions();
        if open.is_empty() {
            return Ok(());
        }
        let history = self.txn_history()?;
        for (topic, partition, spans) in open {
            for span in spans {
                let owned = self.owns_topic(&topic);
                let waiting = prepared.iter().any(|m| {
                    m.producer_id == span.producer_id
                        && match m.txn_epoch {
                            Some(epoch) => epoch == span.epoch,
                            // Recorded before `txn_epoch`: a hand-over bumped `epoch`.
                            None => m.epoch >= span.epoch,
                        }
                });
                if waiting {
                    continue; // Prepared: waits for its decision, as two-phase commit says.
                }
                // No recorded decision: presumed abort (nothing was ever promised as committed).
                let kind = decision_for(&history, span.producer_id, span.epoch)
                    .unwrap_or(ControlKind::Abort);
                if !owned {
                    self.note_pending_marker(PendingMarker {
                        transactional_id: None,
                        topic: topic.clone(),
                        partition,
                        producer_id: span.producer_id,
                        epoch: span.epoch,
                        kind,
                    });
                    continue;
                }
                let epoch = ProducerEpoch(span.epoch);
                let id = ProducerId(span.producer_id);
                self.append_marker(&topic, partition, id, epoch, epoch, kind)?;
            }
        }
        Ok(())
    }

    /// The epoch of `producer_id`'s open transaction in a partition, if one is open.
    fn open_txn_epoch(
        &self,
        topic: &str,
        partition: u32,
        producer_id: ProducerId,
    ) -> Result<Option<u16>, TxnError> {
        let info = self.partition_info(topic, partition)?;
        Ok(info
            .open_transactions
            .iter()
            .find(|t| t.producer_id == producer_id.0)
            .map(|t| t.epoch))
    }

    /// Every record of `__transactions`, in order.
    fn txn_history(&self) -> Result<Vec<TxnMetadata>, TxnError> {
        let mut history = Vec::new();
        let mut next = Offset(0);
        loop {
            let batch = self.read_with(
                TRANSACTIONS_TOPIC,
                0,
                next,
                10_000,
                crate::Isolation::ReadUncommitted,
            )?;
            for record in &batch.records {
                let meta: TxnMetadata =
                    serde_json::from_slice(&record.value).map_err(|e| TxnError::CorruptState {
                        offset: record.offset.0,
                        reason: e.to_string(),
                    })?;
                history.push(meta);
            }
            if batch.next_offset <= next {
                return Ok(history);
            }
            next = batch.next_offset;
        }
    }

    /// Aborts open transactions that ran past their timeout; returns how many.
    pub fn expire_transactions(&self) -> Result<usize, TxnError> {
        let now = self.now_ms();
        let mut table = crate::partition::lock(self.txn_table());
        self.load_txns(&mut table)?;
        let mut aborted = 0;
        for meta in table.txns.values_mut() {
            if meta.state == TxnState::Ongoing
                && meta.started_ms.saturating_add(meta.timeout_ms) < now
            {
                self.abort_open(meta)?;
                aborted += 1;
            }
        }
        Ok(aborted)
    }

    /// Every transactional id's state.
    pub fn transactions(&self) -> Result<Vec<TxnMetadata>, TxnError> {
        let mut table = crate::partition::lock(self.txn_table());
        self.load_txns(&mut table)?;
        Ok(table.txns.values().cloned().collect())
    }

    /// Creates (or resumes) the transactional producer named `transactional_id`, fencing
    /// every older instance. If the previous instance left a *prepared* transaction, the
    /// new producer holds it and must commit or abort it first.
    pub fn transactional_producer(
        &self,
        transactional_id: &str,
        timeout_ms: i64,
    ) -> Result<TransactionalProducer<'_>, TxnError> {
        self.expire_transactions()?;
        let mut guard = crate::partition::lock(self.txn_table());
        self.load_txns(&mut guard)?;
        let table = &mut *guard;
        let next_id = table.next_producer_id;
        let meta = table
            .txns
            .entry(transactional_id.to_string())
            .or_insert_with(|| TxnMetadata {
                transactional_id: transactional_id.to_string(),
                producer_id: next_id,
                epoch: 0,
                state: TxnState::Empty,
                partitions: BTreeSet::new(),
                timeout_ms,
                started_ms: 0,
                txn_epoch: None,
            });
        if meta.producer_id == next_id {
            table.next_producer_id += 1;
        }
        let Some(meta) = table.txns.get_mut(transactional_id) else {
            return Err(TxnError::CorruptState {
                offset: 0,
                reason: "vanished".into(),
            });
        };
        meta.timeout_ms = timeout_ms;
        let prepared = meta.state == TxnState::Prepared;
        // Recovery already left this decision pending: do not write its markers again.
        if let Some(pending) = self.pending_marker_of(transactional_id) {
            return Err(TxnError::PendingOutsideScope {
                transactional_id: transactional_id.to_string(),
                topic: pending.topic,
                partition: pending.partition,
            });
        }
        match meta.state {
            TxnState::Prepared => {
                // Bump the epoch on hand-over too: without it the old instance kept the
                // same epoch and could still commit or abort the transaction the new one
                // now holds (both "deciding" it, both told Ok). Markers at a newer epoch
                // still end the prepared transaction in every partition.
                meta.epoch = meta.epoch.saturating_add(1);
                self.write_txn(meta)?;
            }
            TxnState::Ongoing => self.abort_open(meta)?,
            TxnState::PrepareCommit => self.finish_txn(meta, ControlKind::Commit)?,
            TxnState::PrepareAbort => self.finish_txn(meta, ControlKind::Abort)?,
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                if meta.epoch >= u16::MAX - EPOCH_HEADROOM {
                    // Nothing is open: move to a fresh producer id rather than saturate
                    // (an unchanged epoch did not fence the old instance).
                    meta.producer_id = table.next_producer_id;
                    table.next_producer_id += 1;
                    meta.epoch = 0;
                } else {
                    meta.epoch += 1;
                }
                meta.state = TxnState::Empty;
                self.write_txn(meta)?;
            }
        }
        if matches!(meta.state, TxnState::PrepareCommit | TxnState::PrepareAbort) {
            // `finish_txn` left it decided: a partition outside the scope still waits.
            return Err(match self.pending_marker_of(transactional_id) {
                Some(pending) => TxnError::PendingOutsideScope {
                    transactional_id: transactional_id.to_string(),
                    topic: pending.topic,
                    partition: pending.partition,
                },
                None => TxnError::InvalidState {
                    transactional_id: transactional_id.to_string(),
                    operation: "resume",
                    state: meta.state,
                },
            });
        }
        Ok(TransactionalProducer {
            log: self,
            transactional_id: transactional_id.to_string(),
            producer_id: ProducerId(meta.producer_id),
            epoch: ProducerEpoch(meta.epoch),
            state: if prepared {
                TxnState::Prepared
            } else {
                TxnState::Empty
            },
            sequences: HashMap::new(),
        })
    }

    /// Commits consumer-group positions without a transaction (at-least-once pipelines).
    pub fn commit_offsets(
        &self,
        group: &str,
        positions: &[(String, u32, Offset)],
    ) -> Result<(), TxnError> {
        self.internal_topic(OFFSETS_TOPIC)?;
        let records = offset_records(group, positions, self.now_ms())?;
        if !records.is_empty() {
            self.append_internal(OFFSETS_TOPIC, 0, &records, None, 0)?;
            self.flush_partition(OFFSETS_TOPIC, 0)?;
        }
        Ok(())
    }

    /// The committed positions of `group`: the offset of the next record to read, per
    /// (topic, partition). Reads `__consumer_offsets` with `read_committed`, so positions
    /// written in a transaction appear exactly when it commits.
    pub fn committed_offsets(
        &self,
        group: &str,
    ) -> Result<BTreeMap<(String, u32), Offset>, TxnError> {
        let mut positions = BTreeMap::new();
        if self.partition_count(OFFSETS_TOPIC).is_none() {
            return Ok(positions);
        }
        let mut next = Offset(0);
        loop {
            let batch = self.read_with(
                OFFSETS_TOPIC,
                0,
                next,
                10_000,
                crate::Isolation::ReadCommitted,
            )?;
            for record in &batch.records {
                // A position that does not parse is damage, not a record to skip: skipping
                // it silently restarted the group from an older position.
                let entry = serde_json::from_slice::<OffsetEntry>(&record.value).map_err(|e| {
                    TxnError::CorruptState {
                        offset: record.offset.0,
                        reason: format!("{OFFSETS_TOPIC}: {e}"),
                    }
                })?;
                if entry.group == group {
                    positions.insert((entry.topic, entry.partition), Offset(entry.offset));
                }
            }
            if batch.next_offset <= next {
                break;
            }
            next = batch.next_offset;
        }
        Ok(positions)
    }
}

/// The decision `__transactions` recorded for the transaction of `producer_id` whose
/// batches carry `epoch`: the first decision record of that exact transaction (`txn_epoch`),
/// or, for records written before `txn_epoch` existed, the first decision at that epoch or a
/// later one (an abort of an open transaction and a hand-over bump the epoch before
/// deciding; a new transaction's records are all at later epochs than its begin).
fn decision_for(history: &[TxnMetadata], producer_id: u64, epoch: u16) -> Option<ControlKind> {
    history
        .iter()
        .filter(|m| m.producer_id == producer_id)
        .filter(|m| match m.txn_epoch {
            Some(txn_epoch) => txn_epoch == epoch,
            None => m.epoch >= epoch,
        })
        .find_map(|m| match m.state {
            TxnState::PrepareCommit | TxnState::CompleteCommit => Some(ControlKind::Commit),
            TxnState::PrepareAbort | TxnState::CompleteAbort => Some(ControlKind::Abort),
            _ => None,
        })
}

#[derive(Serialize, Deserialize)]
struct OffsetEntry {
    group: String,
    topic: String,
    partition: u32,
    offset: u64,
}

/// One `__consumer_offsets` record per position; an encoding failure is an error (an empty
/// value would be a position that silently never reads back).
fn offset_records(
    group: &str,
    positions: &[(String, u32, Offset)],
    now_ms: i64,
) -> Result<Vec<Record>, TxnError> {
    positions
        .iter()
        .map(|(topic, partition, offset)| {
            let key = format!("{group}/{topic}/{partition}");
            let value = serde_json::to_vec(&OffsetEntry {
                group: group.to_string(),
                topic: topic.clone(),
                partition: *partition,
                offset: offset.0,
            })
            .map_err(|e| TxnError::Encode {
                what: "consumer position",
                key: key.clone(),
                reason: e.to_string(),
            })?;
            Ok(Record {
                timestamp: Timestamp(now_ms),
                key: Some(key.into_bytes()),
                value,
            })
        })
        .collect()
}

/// A producer whose writes to many partitions become visible together or not at all.
#[derive(Debug)]
pub struct TransactionalProducer<'a> {
    log: &'a Log,
    transactional_id: String,
    producer_id: ProducerId,
    epoch: ProducerEpoch,
    state: TxnState,
    sequences: HashMap<(String, u32), u64>,
}

/// Dropping a producer in the middle of a transaction aborts it (best effort), so its open
/// transaction does not hold the last stable offset until its timeout. A *prepared*
/// transaction is left alone: it waits for a decision, as two-phase commit requires.
impl Drop for TransactionalProducer<'_> {
    fn drop(&mut self) {
        if self.state == TxnState::Ongoing {
            let _ = self.abort();
        }
    }
}

impl TransactionalProducer<'_> {
    /// The producer id the transactional id owns.
    pub fn producer_id(&self) -> ProducerId {
        self.producer_id
    }

    /// The current epoch.
    pub fn epoch(&self) -> ProducerEpoch {
        self.epoch
    }

    /// Whether this producer holds a prepared transaction that needs a decision.
    pub fn is_prepared(&self) -> bool {
        self.state == TxnState::Prepared
    }

    fn invalid(&self, operation: &'static str, state: TxnState) -> TxnError {
        TxnError::InvalidState {
            transactional_id: self.transactional_id.clone(),
            operation,
            state,
        }
    }

    /// Runs `step` on this producer's current metadata after checking it is not fenced
    /// and has not timed out.
    fn with_meta<T>(
        &mut self,
        step: impl FnOnce(&Log, &mut TxnMetadata, &mut u64) -> Result<T, TxnError>,
    ) -> Result<T, TxnError> {
        let log = self.log;
        let mut guard = crate::partition::lock(log.txn_table());
        log.load_txns(&mut guard)?;
        let table = &mut *guard;
        let Some(meta) = table.txns.get_mut(&self.transactional_id) else {
            return Err(TxnError::CorruptState {
                offset: 0,
                reason: "unknown transactional id".into(),
            });
        };
        if meta.producer_id != self.producer_id.0 || meta.epoch != self.epoch.0 {
            return Err(TxnError::Fenced {
                transactional_id: self.transactional_id.clone(),
                epoch: self.epoch.0,
                current_epoch: meta.epoch,
            });
        }
        if meta.state == TxnState::Ongoing
            && meta.started_ms.saturating_add(meta.timeout_ms) < log.now_ms()
        {
            log.abort_open(meta)?;
            return Err(TxnError::TimedOut {
                transactional_id: self.transactional_id.clone(),
                timeout_ms: meta.timeout_ms,
            });
        }
        step(log, meta, &mut table.next_producer_id)
    }

    /// Starts a transaction (bumping the epoch: one epoch per transaction).
    pub fn begin(&mut self) -> Result<(), TxnError> {
        if self.state != TxnState::Empty {
            return Err(self.invalid("begin", self.state));
        }
        let epoch = self.with_meta(|log, meta, next_producer_id| {
            if meta.epoch >= u16::MAX - EPOCH_HEADROOM {
                // Out of epochs for this producer id: take a fresh one (recorded with the
                // first partition, like the epoch). Headroom is left for the bumps of an
                // abort or hand-over of this transaction (see `EPOCH_HEADROOM`).
                meta.producer_id = *next_producer_id;
                *next_producer_id += 1;
                meta.epoch = 0;
            } else {
                meta.epoch += 1;
            }
            meta.state = TxnState::Ongoing;
            meta.txn_epoch = Some(meta.epoch);
            meta.partitions.clear();
            meta.started_ms = log.now_ms();
            // Not written yet: the first partition added records it (with this epoch)
            // before any data of the transaction exists.
            Ok((ProducerId(meta.producer_id), ProducerEpoch(meta.epoch)))
        })?;
        (self.producer_id, self.epoch) = epoch;
        self.sequences.clear();
        self.state = TxnState::Ongoing;
        Ok(())
    }

    /// Appends `records` to a partition inside the transaction.
    pub fn send(
        &mut self,
        topic: &str,
        partition: u32,
        records: &[Record],
    ) -> Result<AppendOutcome, TxnError> {
        if topic.starts_with("__") {
            return Err(TxnError::InternalTopic {
                topic: topic.to_string(),
            });
        }
        self.send_internal(topic, partition, records)
    }

    fn send_internal(
        &mut self,
        topic: &str,
        partition: u32,
        records: &[Record],
    ) -> Result<AppendOutcome, TxnError> {
        if self.state != TxnState::Ongoing {
            return Err(self.invalid("send in", self.state));
        }
        let key = (topic.to_string(), partition);
        if self
            .log
            .partition_count(topic)
            .is_none_or(|n| partition >= n)
        {
            return Err(AppendError::UnknownPartition {
                topic: topic.to_string(),
                partition,
                // An unknown topic has no partitions.
                partitions: self.log.partition_count(topic).unwrap_or(0),
            }
            .into());
        }
        self.with_meta(|log, meta, _| {
            if meta.partitions.insert(key.clone()) {
                log.write_txn(meta)?;
            }
            Ok(())
        })?;
        let sequence = self.sequences.entry(key).or_insert(0);
        let stamp = ProducerStamp {
            producer_id: self.producer_id,
            epoch: self.epoch,
            base_sequence: Sequence(*sequence),
        };
        let outcome =
            self.log
                .append_internal(topic, partition, records, Some(stamp), ATTR_TRANSACTIONAL)?;
        *sequence += records.len() as u64;
        Ok(outcome)
    }

    /// Stores `group`'s positions inside the transaction (visible when it commits).
    pub fn add_offsets(
        &mut self,
        group: &str,
        positions: &[(String, u32, Offset)],
    ) -> Result<(), TxnError> {
        self.log.internal_topic(OFFSETS_TOPIC)?;
        let records = offset_records(group, positions, self.log.now_ms())?;
        if records.is_empty() {
            return Ok(());
        }
        self.send_internal(OFFSETS_TOPIC, 0, &records).map(|_| ())
    }

    /// Makes the transaction durable; afterwards only commit or abort may follow (also
    /// from a producer created after a restart).
    pub fn prepare(&mut self) -> Result<(), TxnError> {
        if self.state != TxnState::Ongoing {
            return Err(self.invalid("prepare", self.state));
        }
        self.with_meta(|log, meta, _| {
            for (topic, partition) in &meta.partitions {
                log.flush_partition(topic, *partition)?;
            }
            meta.state = TxnState::Prepared;
            log.write_txn(meta)
        })?;
        self.state = TxnState::Prepared;
        Ok(())
    }

    /// Commits: every batch of the transaction becomes visible to `read_committed` readers.
    pub fn commit(&mut self) -> Result<(), TxnError> {
        self.end(ControlKind::Commit)
    }

    /// Aborts: `read_committed` readers never see the transaction's batches.
    pub fn abort(&mut self) -> Result<(), TxnError> {
        self.end(ControlKind::Abort)
    }

    fn end(&mut self, kind: ControlKind) -> Result<(), TxnError> {
        let operation = match kind {
            ControlKind::Commit => "commit",
            ControlKind::Abort => "abort",
        };
        if !matches!(self.state, TxnState::Ongoing | TxnState::Prepared) {
            return Err(self.invalid(operation, self.state));
        }
        self.with_meta(|log, meta, _| {
            if meta.partitions.is_empty() && meta.state == TxnState::Ongoing {
                // Nothing was written: nothing to mark.
                meta.state = TxnState::Empty;
                return Ok(());
            }
            if kind == ControlKind::Commit {
                // Data before decision: a crash after the decision must find it durable.
                for (topic, partition) in &meta.partitions {
                    log.flush_partition(topic, *partition)?;
                }
            }
            meta.state = match kind {
                ControlKind::Commit => TxnState::PrepareCommit,
                ControlKind::Abort => TxnState::PrepareAbort,
            };
            log.write_txn(meta)?;
            log.finish_txn(meta, kind)
        })?;
        self.state = TxnState::Empty;
        Ok(())
    }
}
