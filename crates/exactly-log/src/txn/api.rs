//! The transaction methods of [`Log`]: thin delegations to the handle's coordinator.

use super::coordinator::coordinator;
use super::error::TxnError;
use super::markers::PendingMarker;
use super::producer::TransactionalProducer;
use super::table::{Init, Step, TxnMetadata, TxnState};
use super::topics::TRANSACTIONS_TOPIC;
use crate::log::Log;
use exactly_core::Offset;
use std::collections::BTreeMap;

impl Log {
    /// Creates (or resumes) the transactional producer named `transactional_id`, fencing
    /// every older instance. If the previous instance left a *prepared* transaction, the
    /// new producer holds it and must commit or abort it first.
    pub fn transactional_producer(
        &self,
        transactional_id: &str,
        timeout_ms: i64,
    ) -> Result<TransactionalProducer<'_>, TxnError> {
        self.expire_transactions()?;
        let coordinator = coordinator(self);
        let id = transactional_id;
        let transition = |table: &mut super::table::TxnTable, _| {
            // Recovery already left this decision pending: do not write its markers again.
            if let Some(pending) = coordinator.pending_of(id) {
                return Step {
                    plan: Default::default(),
                    outcome: Err(TxnError::PendingOutsideScope {
                        transactional_id: id.to_string(),
                        topic: pending.topic,
                        partition: pending.partition,
                    }),
                };
            }
            table.init(id, timeout_ms)
        };
        let (init, meta) =
            coordinator.run_and_read(self, id, transition, |init: Init, table| {
                Ok((init, table.get(id).cloned()))
            })?;
        let Some(meta) = meta else {
            return Err(TxnError::CorruptState {
                offset: 0,
                reason: "vanished".into(),
            });
        };
        if matches!(meta.state, TxnState::PrepareCommit | TxnState::PrepareAbort) {
            // The markers left it decided: a partition outside the scope still waits.
            return Err(match coordinator.pending_of(id) {
                Some(pending) => TxnError::PendingOutsideScope {
                    transactional_id: id.to_string(),
                    topic: pending.topic,
                    partition: pending.partition,
                },
                None => TxnError::InvalidState {
                    transactional_id: id.to_string(),
                    operation: "resume",
                    state: meta.state,
                },
            });
        }
        let handle = super::table::Handle {
            producer_id: meta.producer_id,
            epoch: meta.epoch,
        };
        Ok(TransactionalProducer::new(self, id, handle, init.prepared))
    }

    /// Aborts open transactions that ran past their timeout; returns how many.
    pub fn expire_transactions(&self) -> Result<usize, TxnError> {
        coordinator(self).expire(self)
    }

    /// Every transactional id's state.
    pub fn transactions(&self) -> Result<Vec<TxnMetadata>, TxnError> {
        let mut guard = coordinator(self).table(self)?;
        Ok(guard.table().all().cloned().collect())
    }

    /// Transaction markers that recovery could not write because their partition is outside
    /// this handle's write scope: the transactions stay decided but not complete until a
    /// process owning those topics and `__transactions` opens the log.
    pub fn pending_markers(&self) -> Vec<PendingMarker> {
        coordinator(self).pending()
    }

    /// Commits consumer-group positions without a transaction (at-least-once pipelines).
    pub fn commit_offsets(
        &self,
        group: &str,
        positions: &[(String, u32, Offset)],
    ) -> Result<(), TxnError> {
        coordinator(self).offsets.commit(self, group, positions)
    }

    /// The committed positions of `group`: the offset of the next record to read, per
    /// (topic, partition) — as `__consumer_offsets` read with `read_committed` shows them,
    /// so positions written in a transaction appear exactly when it commits. Answered from
    /// memory by the handle writing `__consumer_offsets`.
    pub fn committed_offsets(
        &self,
        group: &str,
    ) -> Result<BTreeMap<(String, u32), Offset>, TxnError> {
        coordinator(self).offsets.committed(self, group)
    }

    /// Writes a snapshot of the transaction coordinator and one of the committed consumer
    /// positions now, so the next open replays only what follows them (snapshots are also
    /// written every so many records).
    pub fn snapshot_transactions(&self) -> Result<(), TxnError> {
        let coordinator = coordinator(self);
        coordinator.snapshot(self)?;
        coordinator.offsets.snapshot(self)
    }

    /// Sets how many `__transactions` records go between automatic snapshots of the
    /// coordinator (`None`: never; the default is
    /// [`crate::txn::snapshot::DEFAULT_INTERVAL_RECORDS`]).
    pub fn set_transaction_snapshot_interval(&self, records: Option<u64>) {
        let records = match records {
            Some(records) => records.max(1),
            None => 0, // the coordinator's "never"
        };
        coordinator(self).set_snapshot_interval(records);
    }

    /// Benchmarks only: appends the `__transactions` records of `transactions` committed
    /// one-partition transactions spread over `ids` transactional ids — without their data
    /// or markers — to build a long history fast (the real path syncs three times per
    /// transaction). The coordinator reloads its table afterwards.
    #[doc(hidden)]
    pub fn append_synthetic_transaction_history(
        &self,
        transactions: u64,
        ids: u64,
    ) -> Result<(), TxnError> {
        super::history::append_synthetic_commits(self, transactions, ids)?;
        coordinator(self).reload();
        Ok(())
    }

    /// Benchmark baseline: `true` makes every transactional operation of this handle hold
    /// one global lock across its I/O (flushes, state records, markers), as the coordinator
    /// once did; `false` (the default) lets operations of different transactional ids
    /// overlap their I/O.
    #[doc(hidden)]
    pub fn serialize_transaction_io(&self, on: bool) {
        coordinator(self).set_serialize_io(on);
    }

    /// Completes what a crash interrupted (see [`crate::txn`]); called when a log is
    /// opened by the process owning `__transactions`.
    pub(crate) fn recover_transactions(&self) -> Result<(), TxnError> {
        if !self.owns_topic(TRANSACTIONS_TOPIC) {
            return Ok(());
        }
        coordinator(self).recover(self)
    }
}
