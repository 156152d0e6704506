//! A task's sink: writes each checkpoint's outputs (and audit) to the log.
//!
//! Exactly-once: one transaction per checkpoint — begin, send, **prepare** (durable), ack
//! the coordinator, wait for its decision (given once the manifest is durable), commit.
//! The next checkpoint's transaction begins only after this one committed. At-least-once
//! and at-most-once: plain durable appends, then the ack.

use super::recovery::SINK_TXN_TIMEOUT_MS;
use super::{now_ms, Ack, EpochOutput, Lineage, RunContext, RunError};
use crate::job::{Guarantee, OutputRecord};
use exactly_core::Timestamp;
use exactly_log::{partition_for_key, Record, TransactionalProducer};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, Sender};

/// Bytes of records per append or send, at most (and at most half the log's batch limit).
const SEND_BYTES_MAX: usize = 1 << 20;
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
}

impl<'a, O: OutputRecord> Sink<'a, '_, O> {
    pub fn run(self) -> Result<(), RunError> {
        let mut producers = self.producers()?;
        let guarantee = self.ctx.options.guarantee;
        while let Ok(epoch) = self.epochs.recv() {
            let id = epoch.checkpoint_id;
            let batch = self.encode(epoch.outputs, &epoch.audit);
            if epoch.partial {
                self.append(&batch)?;
                continue;
            }
            if self.ctx.writes_ahead() {
                // The coordinator writes these into the manifest and publishes them.
                let ack = Ack::Task {
                    checkpoint_id: id,
                    states: epoch.states,
                    clock: epoch.clock,
                    outputs: batch.parts,
                };
                if self.acks.send(ack).is_err() {
                    return Ok(());
                }
                match self.decisions.recv() {
                    Ok(decided) if decided == id => continue,
                    _ => return Ok(()),
                }
            }
            let producer = producers.get_mut((id % 2) as usize);
            match (producer, guarantee) {
                (Some(producer), _) => {
                    let status = &self.ctx.options.status.records_out;
                    write_transaction(producer, &batch, self.send_bytes_max(), status)?
                }
                // At-most-once writes only after the manifest moved the positions past
                // everything these outputs came from (below).
                (None, Guarantee::AtMostOnce) => {}
                (None, _) => self.append(&batch)?,
            }
            let ack = Ack::Task {
                checkpoint_id: id,
                states: epoch.states,
                clock: epoch.clock,
                outputs: Vec::new(),
            };
            if self.acks.send(ack).is_err() {
                return Ok(());
            }
            // A missing decision means the run is ending abnormally: a prepared transaction
            // stays prepared, and recovery decides it against the manifest.
            match self.decisions.recv() {
                Ok(decided) if decided == id => {}
                _ => return Ok(()),
            }
            if let Some(producer) = producers.get_mut((id % 2) as usize) {
                producer.commit()?;
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
        (0..2)
            .map(|parity| {
                let id = self.ctx.sink_txn_id(self.index, parity);
                Ok(self
                    .ctx
                    .log
                    .transactional_producer(&id, SINK_TXN_TIMEOUT_MS)?)
            })
            .collect()
    }

    fn encode(&self, outputs: Vec<O>, audit: &[Lineage]) -> Batch {
        let timestamp = Timestamp(now_ms());
        let partitions = self.ctx.output_partitions;
        let mut by_partition: Vec<Vec<Record>> = (0..partitions).map(|_| Vec::new()).collect();
        let records = outputs.len() as u64;
        for output in outputs {
            let key = output.record_key();
            let partition = match &key {
                Some(key) => partition_for_key(key, partitions),
                None => self.index % partitions.max(1),
            };
            let record = Record {
                timestamp,
                key,
                value: output.record_value(),
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
        if let Some(topic) = &self.ctx.job.audit {
            let entries =
                (self.send_bytes_max() / 2 / LINEAGE_BYTES_MAX).clamp(1, AUDIT_RECORD_ENTRIES);
            let audit_records = audit
                .chunks(entries)
                .map(|chunk| Record {
                    timestamp,
                    key: None,
                    value: postcard::to_allocvec(chunk).unwrap_or_default(),
                })
                .collect::<Vec<_>>();
            if !audit_records.is_empty() {
                let partition = self.index % self.ctx.audit_partitions.max(1);
                parts.push((topic.clone(), partition, audit_records));
            }
        }
        Batch { parts, records }
    }

    /// Bytes per append: well under the log's batch limit (headers and framing included).
    fn send_bytes_max(&self) -> usize {
        let log_max = self.ctx.log.config().batch_bytes_max as usize;
        SEND_BYTES_MAX.min(log_max / 2)
    }

    fn append(&self, batch: &Batch) -> Result<(), RunError> {
        self.ctx
            .options
            .status
            .records_out
            .fetch_add(batch.records, Ordering::Relaxed);
        let max = self.send_bytes_max();
        for (topic, partition, records) in &batch.parts {
            for chunk in chunks(records, max) {
                self.ctx.log.append(topic, *partition, chunk, None)?;
            }
        }
        Ok(())
    }
}

fn write_transaction(
    producer: &mut TransactionalProducer<'_>,
    batch: &Batch,
    bytes_max: usize,
    status: &std::sync::atomic::AtomicU64,
) -> Result<(), RunError> {
    producer.begin()?;
    status.fetch_add(batch.records, Ordering::Relaxed);
    for (topic, partition, records) in &batch.parts {
        for chunk in chunks(records, bytes_max) {
            producer.send(topic, *partition, chunk)?;
        }
    }
    producer.prepare()?;
    Ok(())
}

/// Splits records into runs of at most `bytes_max` bytes (at least one record each).
pub(crate) fn chunks(records: &[Record], bytes_max: usize) -> Vec<&[Record]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0usize);
    for (i, record) in records.iter().enumerate() {
        let size = record.value.len() + record.key.as_ref().map_or(0, Vec::len) + 32;
        if bytes + size > bytes_max && i > start {
            out.extend(records.get(start..i));
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    out.extend(records.get(start..));
    out.retain(|chunk| !chunk.is_empty());
    out
}
