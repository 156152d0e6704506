//! [`NatsInput`]: a topic on JetStream as the engine's [`Input`].
//!
//! A job's position in a partition is the offset of the next record to read, and a
//! record's offset is its stream sequence − 1 (sequences start at 1, positions at 0, so a
//! job without a checkpoint starts at the first record either way). Positions live only in
//! the job's checkpoint: the reader is an ordered consumer without server-side
//! acknowledgments, so nothing about the job is stored in JetStream, and reading again
//! from a checkpointed position returns the same records — unless retention deleted them,
//! which is an error ([`NatsError::RetentionDeleted`]), never a skip. Every stored record
//! is committed (JetStream has no transactions): read-committed is the stream itself.

use crate::blocking::{NatsLog, Reader, Topic};
use crate::error::NatsError;
use exactly_core::{Offset, Timestamp};
use exactly_engine::{Input, InputBatch, RunError};
use exactly_log::StoredRecord;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often [`Input::wait`] looks at the partition again, and how long a partition
/// found at its end is taken to still be there (a drained source polls in a tight loop;
/// each look is two API requests).
const WAIT_POLL: Duration = Duration::from_millis(5);

/// One partition's reading state between two reads.
#[derive(Default)]
struct Slot<'a> {
    /// The reader left by the previous read: reused while the next read starts where it
    /// stopped (one ordered consumer per pass over the partition, not one per read).
    reader: Option<Reader<'a>>,
    /// When the partition was last found to have nothing at `(sequence)`.
    at_end: Option<(u64, Instant)>,
}

/// A topic on JetStream read by a job.
pub struct NatsInput<'a> {
    log: &'a NatsLog,
    topic: Topic,
    slots: Vec<Mutex<Slot<'a>>>,
}

impl<'a> NatsInput<'a> {
    /// The input `topic` (it must exist: a job's input is never created by the job).
    pub fn open(log: &'a NatsLog, topic: &str) -> Result<Self, NatsError> {
        let topic = log.open_topic(topic)?;
        let slots = (0..topic.partitions())
            .map(|_| Mutex::new(Slot::default()))
            .collect();
        Ok(Self { log, topic, slots })
    }

    fn error(&self, source: NatsError) -> RunError {
        RunError::Input {
            input: format!("topic {} on NATS", self.topic.name()),
            source: Box::new(source),
        }
    }

    fn read_records(
        &self,
        partition: u32,
        from_seq: u64,
        records_max: usize,
    ) -> Result<Vec<crate::StoredRecord>, NatsError> {
        let slot =
            self.slots
                .get(partition as usize)
                .ok_or_else(|| NatsError::NoSuchPartition {
                    topic: self.topic.name().to_string(),
                    partition,
                    partitions: self.topic.partitions(),
                })?;
        // A poisoned lock means a reader thread panicked mid-read: its reader may be
        // mid-batch, so it is dropped and a fresh one opened at the asked sequence.
        let mut slot = slot.lock().unwrap_or_else(|poisoned| {
            let mut guard = poisoned.into_inner();
            *guard = Slot::default();
            guard
        });
        let reusable = slot
            .reader
            .as_ref()
            .is_some_and(|r| r.next_seq() == from_seq && r.next_seq() <= r.end_seq());
        if !reusable {
            slot.reader = None;
            let recently_at_end = slot
                .at_end
                .is_some_and(|(seq, when)| seq == from_seq && when.elapsed() < WAIT_POLL);
            if recently_at_end {
                return Ok(Vec::new());
            }
            if self.log.partition_state(&self.topic, partition)?.last_seq < from_seq {
                slot.at_end = Some((from_seq, Instant::now()));
                return Ok(Vec::new());
            }
            slot.at_end = None;
            slot.reader = Some(self.log.reader(&self.topic, partition, from_seq)?);
        }
        match slot.reader.as_mut() {
            Some(reader) => reader.next_batch(records_max),
            None => Ok(Vec::new()),
        }
    }
}

impl Input for NatsInput<'_> {
    fn name(&self) -> &str {
        self.topic.name()
    }

    fn partitions(&self) -> Option<u32> {
        Some(self.topic.partitions())
    }

    fn read(
        &self,
        partition: u32,
        position: u64,
        records_max: usize,
    ) -> Result<InputBatch, RunError> {
        let records = self
            .read_records(partition, position + 1, records_max)
            .map_err(|e| self.error(e))?;
        // A record's offset is its sequence − 1 (sequences start at 1), so the position
        // after the last record read is its sequence.
        let next_position = match records.last() {
            Some(last) => last.sequence,
            None => position,
        };
        let records = records
            .into_iter()
            .map(|r| StoredRecord {
                offset: Offset(r.sequence - 1),
                timestamp: Timestamp(r.timestamp_ms),
                key: r.key,
                value: r.value,
            })
            .collect();
        Ok(InputBatch {
            records,
            next_position,
        })
    }

    fn position_at(&self, partition: u32, time_ms: i64) -> Result<u64, RunError> {
        let sequence = self
            .log
            .sequence_at_time(&self.topic, partition, time_ms)
            .map_err(|e| self.error(e))?;
        // Position p reads from sequence p + 1 (see `read`); sequences start at 1.
        Ok(sequence.saturating_sub(1))
    }

    fn wait(&self, partition: u32, position: u64, timeout: Duration) -> Result<(), RunError> {
        let deadline = Instant::now() + timeout;
        loop {
            let state = self
                .log
                .partition_state(&self.topic, partition)
                .map_err(|e| self.error(e))?;
            let now = Instant::now();
            if state.last_seq > position || now >= deadline {
                return Ok(());
            }
            std::thread::sleep(WAIT_POLL.min(deadline - now));
        }
    }
}
