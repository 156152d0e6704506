//! [`TransactionalProducer`]: one instance of a transactional id. Each call is one
//! transition of the coordinator's table (run under the id's lock, its I/O outside the
//! table lock); data batches are appended by the producer itself, stamped with the
//! transaction's producer id and epoch, so a fenced instance's late batch is refused by
//! the partition.

use super::coordinator::coordinator;
use super::error::TxnError;
use super::offsets;
use super::table::{Handle, TxnState};
use super::topics::OFFSETS_TOPIC;
use crate::batch::{ControlKind, ProducerStamp, Record, ATTR_TRANSACTIONAL};
use crate::error::AppendError;
use crate::log::Log;
use crate::partition::AppendOutcome;
use exactly_core::{Offset, ProducerEpoch, ProducerId, Sequence};
use std::collections::HashMap;

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
            if let Err(e) = self.abort() {
                // Its timeout (or the next instance of the id) aborts it instead.
                tracing::warn!(
                    id = %self.transactional_id,
                    error = %e,
                    "aborting a dropped producer's transaction failed"
                );
            }
        }
    }
}

impl<'a> TransactionalProducer<'a> {
    /// A new instance holding `handle` (see [`Log::transactional_producer`]).
    pub(crate) fn new(
        log: &'a Log,
        transactional_id: &str,
        handle: Handle,
        prepared: bool,
    ) -> Self {
        Self {
            log,
            transactional_id: transactional_id.to_string(),
            producer_id: ProducerId(handle.producer_id),
            epoch: ProducerEpoch(handle.epoch),
            state: match prepared {
                true => TxnState::Prepared,
                false => TxnState::Empty,
            },
            sequences: HashMap::new(),
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

    fn handle(&self) -> Handle {
        Handle {
            producer_id: self.producer_id.0,
            epoch: self.epoch.0,
        }
    }

    fn invalid(&self, operation: &'static str, state: TxnState) -> TxnError {
        TxnError::InvalidState {
            transactional_id: self.transactional_id.clone(),
            operation,
            state,
        }
    }

    /// Starts a transaction (bumping the epoch: one epoch per transaction).
    pub fn begin(&mut self) -> Result<(), TxnError> {
        if self.state != TxnState::Empty {
            return Err(self.invalid("begin", self.state));
        }
        let (id, handle) = (&self.transactional_id, self.handle());
        let coordinator = coordinator(self.log);
        let next = coordinator.run(self.log, id, |table, now_ms| {
            table.begin(id, handle, now_ms)
        })?;
        coordinator.offsets.begin(id);
        self.producer_id = ProducerId(next.producer_id);
        self.epoch = ProducerEpoch(next.epoch);
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
        let partitions = match self.log.partition_count(topic) {
            Some(n) if partition < n => None,
            Some(n) => Some(n),
            // An unknown topic has no partitions.
            None => Some(0),
        };
        if let Some(partitions) = partitions {
            return Err(AppendError::UnknownPartition {
                topic: topic.to_string(),
                partition,
                partitions,
            }
            .into());
        }
        let key = (topic.to_string(), partition);
        let (id, handle) = (&self.transactional_id, self.handle());
        coordinator(self.log).run(self.log, id, |table, now_ms| {
            table.add_partition(id, handle, now_ms, key.clone())
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
        super::history::internal_topic(self.log, OFFSETS_TOPIC)?;
        let (entries, records) = offsets::records(group, positions, self.log.now_ms())?;
        if records.is_empty() {
            return Ok(());
        }
        let outcome = self.send_internal(OFFSETS_TOPIC, 0, &records)?;
        coordinator(self.log)
            .offsets
            .added(&self.transactional_id, entries, &outcome);
        Ok(())
    }

    /// Makes the transaction durable; afterwards only commit or abort may follow (also
    /// from a producer created after a restart).
    pub fn prepare(&mut self) -> Result<(), TxnError> {
        if self.state != TxnState::Ongoing {
            return Err(self.invalid("prepare", self.state));
        }
        let (id, handle) = (&self.transactional_id, self.handle());
        coordinator(self.log).run(self.log, id, |table, now_ms| {
            table.prepare(id, handle, now_ms)
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
        let (id, handle) = (&self.transactional_id, self.handle());
        coordinator(self.log).run(self.log, id, |table, now_ms| {
            table.end(id, handle, now_ms, kind)
        })?;
        self.state = TxnState::Empty;
        Ok(())
    }
}
