//! A task's sink: writes each checkpoint's outputs (and audit) to the log.
//!
//! Exactly-once: one transaction per checkpoint — begin, send, **prepare** (durable), ack
//! the coordinator, wait for its decision (given once the manifest is durable), commit.
//! The next checkpoint's transaction begins only after this one committed. At-least-once
//! and at-most-once: plain durable appends, then the ack.

use super::chunks::chunks;
use super::context::{RunContext, SINK_TXN_TIMEOUT_MS};
use super::coordinator_core::CoordinatorEvent;
use super::error::RunError;
use super::messages::{Ack, EpochOutput, Lineage};
use super::options::JobStatus;
use crate::types::{Guarantee, OutputRecord};
use exactly_core::Timestamp;
use exactly_log::{partition_for_key, Record, TransactionalProducer};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, Sender};

/// Lineages per audit record, at most.
const AUDIT_RECORD_ENTRIES: usize = 4096;
/// Encoded bytes of one lineage, at most (three varints).
const LINEAGE_BYTES_MAX: usize = 20;

pub(crate) struct Sink<'a, 'c, O> {
    pub ctx: &'c RunContext<'a>,
    pub index: u32,
    pub epochs: Receiver<EpochOutput<O>>,
    pub decisions: Receiver<u64>,
    pub acks: Sender<Ack>,
}

/// Records of one checkpoint, by topic and partition.
struct Batch {
    parts: Vec<(String, u32, Vec<Record>)>,
    records: u64,
    dead_letters: u64,
}

impl<'a, O: OutputRecord> Sink<'a, '_, O> {
    pub fn run(self) -> Result<(), RunError> {
        let mut producers = self.producers()?;
        let guarantee = self.ctx.options.guarantee;
        while let Ok(epoch) = self.epochs.recv() {
            let id = epoch.checkpoint_id;
            let batch = self.encode(epoch.outputs, &epoch.audit, epoch.dead_letters)?;
            if epoch.partial {
                self.append(&batch)?;
                continue;
            }
            if self.ctx.writes_ahead() {
                // The coordinator writes these into the manifest and publishes them.
                let ack = Ack::Event(CoordinatorEvent::TaskAcked {
                    task: self.index,
                    barrier: id,
                    states: epoch.states,
                    clock: epoch.clock,
                    outputs: batch.parts,
                    wrote: false,
                });
                if self.acks.send(ack).is_err() {
                    return Ok(());
                }
                match self.decisions.recv() {
                    Ok(decided) if decided == id => continue,
                    _ => return Ok(()),
                }
            }
            // The transaction is named after the manifest this checkpoint will be written
            // under (the coordinator set it before raising the barrier).
            let parity = (self.ctx.control.manifest_id.load(Ordering::SeqCst) % 2) as usize;
            let wrote = !batch.parts.is_empty();
            // An empty checkpoint begins no transaction: an idle job writes nothing.
            let producer = producers.get_mut(parity).filter(|_| wrote);
            let transactional = producer.is_some();
            match (producer, guarantee) {
                (Some(producer), _) => {
                    let status = &self.ctx.options.status;
                    write_transaction(producer, &batch, self.send_bytes_max(), status)
                        .inspect_err(|error| {
                            tracing::error!(sink = self.index, %error, "writing a sink transaction")
                        })?
                }
                // At-most-once writes only after the manifest moved the positions past
                // everything these outputs came from (below).
                (None, Guarantee::AtMostOnce | Guarantee::ExactlyOnce) => {}
                (None, Guarantee::AtLeastOnce) => self.append(&batch)?,
            }
            let ack = Ack::Event(CoordinatorEvent::TaskAcked {
                task: self.index,
                barrier: id,
                states: epoch.states,
                clock: epoch.clock,
                outputs: Vec::new(),
                wrote,
            });
            if self.acks.send(ack).is_err() {
                return Ok(());
            }
            // A missing decision means the run is ending abnormally: a prepared transaction
            // stays prepared, and recovery decides it against the manifest.
            match self.decisions.recv() {
                Ok(decided) if decided == id => {}
                _ => return Ok(()),
            }
            if transactional {
                if let Some(producer) = producers.get_mut(parity) {
                    producer.commit().inspect_err(|error| {
                        tracing::error!(sink = self.index, %error, "committing a sink transaction")
                    })?;
                }
            } else if guarantee == Guarantee::AtMostOnce {
                self.append(&batch)?;
            }
        }
        Ok(())
    }

    /// The two alternating transactional producers (exactly-once only).
    fn producers(&self) -> Result<Vec<TransactionalProducer<'a>>, RunError> {
        if self.ctx.options.guarantee != Guarantee::ExactlyOnce || self.ctx.writes_ahead() {
            return Ok(Vec::new());
        }
        let Some(log) = self.ctx.output.transactional_log() else {
            return Err(RunError::InvalidOptions(format!(
                "{} has no transactions: exactly-once needs the idempotent sink mode there",
                self.ctx.output.describe()
            )));
        };
        (0..2)
            .map(|parity| {
                let id = self.ctx.sink_txn_id(self.index, parity);
                Ok(log.transactional_producer(&id, SINK_TXN_TIMEOUT_MS)?)
            })
            .collect()
    }

    fn encode(
        &self,
        outputs: Vec<O>,
        audit: &[Lineage],
        dead_letters: Vec<Record>,
    ) -> Result<Batch, RunError> {
        let timestamp = Timestamp(self.ctx.now_ms());
        let partitions = self.ctx.output_partitions;
        let mut by_partition: Vec<Vec<Record>> = (0..partitions).map(|_| Vec::new()).collect();
        let records = outputs.len() as u64;
        for output in outputs {
            let key = output.record_key();
            let partition = match &key {
                Some(key) => partition_for_key(key, partitions),
                None => self.index % partitions.max(1),
            };
            let value = output.record_value().map_err(|source| RunError::Encode {
                what: "an output record",
                source,
            })?;
            let record = Record {
                timestamp,
                key,
                value,
            };
            if let Some(list) = by_partition.get_mut(partition as usize) {
                list.push(record);
            }
        }
        let sink = &self.ctx.job.sink;
        let mut parts: Vec<(String, u32, Vec<Record>)> = by_partition
            .into_iter()
            .enumerate()
            .filter(|(_, list)| !list.is_empty())
            .map(|(p, list)| (sink.clone(), p as u32, list))
            .collect();
        let dead_letter_count = dead_letters.len() as u64;
        if !dead_letters.is_empty() {
            let partition = self.index % self.ctx.dead_letter_partitions.max(1);
            parts.push((self.ctx.job.dead_letter_topic(), partition, dead_letters));
        }
        if let Some(topic) = &self.ctx.job.audit {
            let entries =
                (self.send_bytes_max() / 2 / LINEAGE_BYTES_MAX).clamp(1, AUDIT_RECORD_ENTRIES);
            let audit_records = audit
                .chunks(entries)
                .map(|chunk| {
                    let value = postcard::to_allocvec(chunk).map_err(|e| RunError::Encode {
                        what: "an audit record",
                        source: exactly_state::SnapshotError::Encode(e.to_string()),
                    })?;
                    Ok(Record {
                        timestamp,
                        key: None,
                        value,
                    })
                })
                .collect::<Result<Vec<_>, RunError>>()?;
            if !audit_records.is_empty() {
                let partition = self.index % self.ctx.audit_partitions.max(1);
                parts.push((topic.clone(), partition, audit_records));
            }
        }
        Ok(Batch {
            parts,
            records,
            dead_letters: dead_letter_count,
        })
    }

    /// Bytes per append: well under the output's batch limit (headers and framing
    /// included).
    fn send_bytes_max(&self) -> usize {
        self.ctx.output.append_bytes_max()
    }

    fn append(&self, batch: &Batch) -> Result<(), RunError> {
        let status = &self.ctx.options.status;
        status
            .records_out
            .fetch_add(batch.records, Ordering::Relaxed);
        status
            .dead_letters
            .fetch_add(batch.dead_letters, Ordering::Relaxed);
        let max = self.send_bytes_max();
        for (topic, partition, records) in &batch.parts {
            for chunk in chunks(records, max) {
                self.ctx.output.append(topic, *partition, chunk)?;
            }
        }
        Ok(())
    }
}

fn write_transaction(
    producer: &mut TransactionalProducer<'_>,
    batch: &Batch,
    bytes_max: usize,
    status: &JobStatus,
) -> Result<(), RunError> {
    producer.begin()?;
    status
        .records_out
        .fetch_add(batch.records, Ordering::Relaxed);
    status
        .dead_letters
        .fetch_add(batch.dead_letters, Ordering::Relaxed);
    for (topic, partition, records) in &batch.parts {
        for chunk in chunks(records, bytes_max) {
            producer.send(topic, *partition, chunk)?;
        }
    }
    producer.prepare()?;
    Ok(())
}
