//! Kafka transactional producers over the log's [`TransactionalProducer`].
//!
//! The two protocols differ in one way that matters: a Kafka client keeps the producer id
//! and epoch `InitProducerId` gave it for all its transactions, and numbers its batches
//! per partition across them, while the log bumps the epoch at every `begin` (one epoch per
//! transaction) and numbers each transaction's batches from zero. So the server keeps, per
//! transactional id, the one live [`TxnInstance`]: the Kafka-visible id and epoch it handed
//! out, and the log's producer that really writes. A request naming an older epoch (a
//! zombie) finds a newer instance and is fenced; a retried batch (same partition, same
//! sequence) is answered from memory instead of written twice.

use crate::codes;
use exactly_core::Offset;
use exactly_log::{AppendOutcome, Log, Record, TransactionalProducer, TxnError};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The live instance of a transactional id.
#[derive(Debug)]
pub struct TxnInstance {
    producer: TransactionalProducer<'static>,
    /// Producer id the client was given.
    pub producer_id: i64,
    /// Epoch the client was given.
    pub epoch: i16,
    in_transaction: bool,
    partitions: BTreeSet<(String, u32)>,
    // (topic, partition) → (Kafka base sequence of the last batch, its base offset).
    last_batch: HashMap<(String, u32), (i32, i64)>,
}

type Slot = Arc<Mutex<Option<TxnInstance>>>;

/// Every transactional id's live instance.
#[derive(Debug, Default)]
pub struct TxnRegistry {
    slots: Mutex<HashMap<String, Slot>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind; the log re-checks its own
    // invariants on every call, so continuing is safe.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Why a transactional request was refused: the Kafka error code and a message.
#[derive(Debug)]
pub struct Refusal {
    /// Kafka error code.
    pub code: i16,
    /// Why.
    pub message: String,
}

impl From<TxnError> for Refusal {
    fn from(error: TxnError) -> Self {
        Self {
            code: codes::txn_error(&error),
            message: error.to_string(),
        }
    }
}

fn refusal(code: i16, message: impl Into<String>) -> Refusal {
    Refusal {
        code,
        message: message.into(),
    }
}

impl TxnRegistry {
    fn slot(&self, transactional_id: &str) -> Slot {
        lock(&self.slots)
            .entry(transactional_id.to_string())
            .or_default()
            .clone()
    }

    /// `InitProducerId` with a transactional id: fences every older instance (the log
    /// aborts its open transaction) and returns the new producer id and epoch.
    pub fn init(
        &self,
        log: &'static Log,
        transactional_id: &str,
        timeout_ms: i64,
    ) -> Result<(i64, i16), Refusal> {
        let slot = self.slot(transactional_id);
        let mut guard = lock(&slot);
        // Dropping the old instance aborts its open transaction (the log would too).
        guard.take();
        let mut producer = log.transactional_producer(transactional_id, timeout_ms)?;
        if producer.is_prepared() {
            // Only the log's own API prepares; a Kafka client cannot resume it.
            producer.abort()?;
        }
        let producer_id = i64::try_from(producer.producer_id().0)
            .map_err(|_| refusal(codes::UNKNOWN_SERVER_ERROR, "producer id beyond i64"))?;
        // Kafka epochs are non-negative i16; the log's are u16 and bumped per transaction.
        let epoch = (producer.epoch().0 % (i16::MAX as u16)) as i16;
        *guard = Some(TxnInstance {
            producer,
            producer_id,
            epoch,
            in_transaction: false,
            partitions: BTreeSet::new(),
            last_batch: HashMap::new(),
        });
        Ok((producer_id, epoch))
    }

    /// Runs `work` on the live instance named by a request, after checking the request's
    /// producer id and epoch are the instance's.
    pub fn with_instance<T>(
        &self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        work: impl FnOnce(&mut TxnInstance) -> Result<T, Refusal>,
    ) -> Result<T, Refusal> {
        let slot = self.slot(transactional_id);
        let mut guard = lock(&slot);
        let Some(instance) = guard.as_mut() else {
            return Err(refusal(
                codes::INVALID_PRODUCER_ID_MAPPING,
                format!("no producer for transactional id '{transactional_id}' (restart?)"),
            ));
        };
        if instance.producer_id != producer_id {
            return Err(refusal(
                codes::INVALID_PRODUCER_ID_MAPPING,
                format!("producer id {producer_id} is not '{transactional_id}''s"),
            ));
        }
        if instance.epoch != epoch {
            return Err(refusal(
                codes::INVALID_PRODUCER_EPOCH,
                format!("epoch {epoch} of '{transactional_id}' is fenced"),
            ));
        }
        work(instance)
    }
}

impl TxnInstance {
    fn ensure_begun(&mut self) -> Result<(), Refusal> {
        if !self.in_transaction {
            self.producer.begin()?;
            self.in_transaction = true;
            self.partitions.clear();
            self.last_batch.clear();
        }
        Ok(())
    }

    /// `AddPartitionsToTxn`: starts the transaction if needed; the log records each
    /// partition durably with its first batch.
    pub fn add_partition(&mut self, log: &Log, topic: &str, partition: u32) -> Result<(), Refusal> {
        match log.partition_count(topic) {
            Some(count) if partition < count => {}
            _ => {
                return Err(refusal(
                    codes::UNKNOWN_TOPIC_OR_PARTITION,
                    format!("{topic}/{partition} does not exist"),
                ))
            }
        }
        self.ensure_begun()?;
        self.partitions.insert((topic.to_string(), partition));
        Ok(())
    }

    /// `AddOffsetsToTxn`: starts the transaction if needed.
    pub fn add_offsets(&mut self) -> Result<(), Refusal> {
        self.ensure_begun()
    }

    /// A transactional Produce of one batch: its base offset (a retry of the last batch of
    /// the partition gets the original answer).
    pub fn send(
        &mut self,
        topic: &str,
        partition: u32,
        base_sequence: i32,
        records: &[Record],
    ) -> Result<i64, Refusal> {
        let key = (topic.to_string(), partition);
        if !self.in_transaction || !self.partitions.contains(&key) {
            return Err(refusal(
                codes::INVALID_TXN_STATE,
                format!("{topic}/{partition} was not added to the transaction"),
            ));
        }
        if let Some((last_sequence, base_offset)) = self.last_batch.get(&key) {
            if *last_sequence == base_sequence {
                return Ok(*base_offset);
            }
        }
        let base_offset = match self.producer.send(topic, partition, records)? {
            AppendOutcome::Appended { base_offset, .. } => base_offset,
            // The log numbers the transaction's batches itself: never a duplicate.
            AppendOutcome::Duplicate { original } => original.map_or(Offset(0), |o| o.0),
        };
        let base_offset = i64::try_from(base_offset.0)
            .map_err(|_| refusal(codes::UNKNOWN_SERVER_ERROR, "offset beyond i64"))?;
        self.last_batch.insert(key, (base_sequence, base_offset));
        Ok(base_offset)
    }

    /// `TxnOffsetCommit`: the group's positions, visible when the transaction commits.
    pub fn commit_offsets(
        &mut self,
        group: &str,
        positions: &[(String, u32, Offset)],
    ) -> Result<(), Refusal> {
        if !self.in_transaction {
            return Err(refusal(
                codes::INVALID_TXN_STATE,
                "offsets committed outside a transaction",
            ));
        }
        self.producer.add_offsets(group, positions)?;
        Ok(())
    }

    /// `EndTxn`: commits or aborts (nothing to do when no transaction was started).
    pub fn end(&mut self, commit: bool) -> Result<(), Refusal> {
        if !self.in_transaction {
            return Ok(());
        }
        let ended = match commit {
            true => self.producer.commit(),
            false => self.producer.abort(),
        };
        // A failed end leaves the transaction open here, so that a retried EndTxn tries
        // again instead of reporting a commit that did not happen.
        ended?;
        self.in_transaction = false;
        Ok(())
    }
}
