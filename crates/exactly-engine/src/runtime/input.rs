//! [`Input`]: where a job's records come from, as a trait — the seam between the source
//! tasks and the system holding the input. [`LogInput`] (the embedded log) is the one
//! implementation here; a JetStream input (an ordered consumer started at a stream
//! sequence kept in the checkpoint) is meant to be another, without touching the tasks or
//! the coordinator.
//!
//! The contract a source task relies on: an input has a fixed number of partitions; a
//! **position** is a `u64` that only grows (the log's offsets, a stream's sequences), and
//! position 0 is the beginning of a partition (where a job without a checkpoint starts); a
//! read from a position returns committed records in order and the position after them,
//! and reading again from a position checkpointed earlier returns the same records — the
//! replay that makes restored state see every record exactly once. A record's `offset` is
//! its position (dead letters and lineage name it).

use super::error::RunError;
use exactly_core::{Offset, Timestamp};
use exactly_log::{Isolation, Log, StoredRecord};
use std::time::Duration;

/// Records read from one partition.
#[derive(Debug)]
pub struct InputBatch {
    /// Committed records in position order (each record's `offset` is its position).
    pub records: Vec<StoredRecord>,
    /// Where the next read starts: past every record returned.
    pub next_position: u64,
}

/// A job's input: partitions read from a position (see the module documentation).
pub trait Input: Send + Sync {
    /// Its name (the input topic), for messages and dead letters.
    fn name(&self) -> &str;

    /// How many partitions it has; `None` if it does not exist.
    fn partitions(&self) -> Option<u32>;

    /// Up to `records_max` committed records of `partition` from `position`.
    fn read(
        &self,
        partition: u32,
        position: u64,
        records_max: usize,
    ) -> Result<InputBatch, RunError>;

    /// Waits up to `timeout` for a record at or after `position` of `partition` (jobs that
    /// follow their input); returning early without one is allowed.
    fn wait(&self, partition: u32, position: u64, timeout: Duration) -> Result<(), RunError>;

    /// The position of the first record of `partition` at or after `time_ms` (ms since the
    /// Unix epoch, a record's time as this input defines it), or the partition's end if
    /// there is none yet: where a job started from a time begins reading
    /// ([`RunOptions::start_from_time_ms`](super::RunOptions::start_from_time_ms)). An
    /// input that cannot look positions up by time refuses with
    /// [`RunError::StartTimeUnsupported`] (the default).
    fn position_at(&self, partition: u32, time_ms: i64) -> Result<u64, RunError> {
        let _ = (partition, time_ms); // No lookup by time here: refused, never guessed.
        Err(RunError::StartTimeUnsupported {
            input: self.name().to_string(),
        })
    }
}

/// A topic of the embedded log, read committed.
#[derive(Clone, Copy, Debug)]
pub struct LogInput<'a> {
    log: &'a Log,
    topic: &'a str,
}

impl<'a> LogInput<'a> {
    /// Topic `topic` of `log`.
    pub fn new(log: &'a Log, topic: &'a str) -> Self {
        Self { log, topic }
    }
}

impl Input for LogInput<'_> {
    fn name(&self) -> &str {
        self.topic
    }

    fn partitions(&self) -> Option<u32> {
        self.log.partition_count(self.topic)
    }

    fn read(
        &self,
        partition: u32,
        position: u64,
        records_max: usize,
    ) -> Result<InputBatch, RunError> {
        let batch = self.log.read_with(
            self.topic,
            partition,
            Offset(position),
            records_max,
            Isolation::ReadCommitted,
        )?;
        Ok(InputBatch {
            records: batch.records,
            next_position: batch.next_offset.0,
        })
    }

    /// By the records' timestamps (the log's time index).
    fn position_at(&self, partition: u32, time_ms: i64) -> Result<u64, RunError> {
        let found = self
            .log
            .offset_for_time(self.topic, partition, Timestamp(time_ms))?;
        match found {
            Some(offset) => Ok(offset.0),
            // No record at or after it yet: the end, where the next one will be.
            None => Ok(self.log.partition_info(self.topic, partition)?.end_offset.0),
        }
    }

    fn wait(&self, partition: u32, position: u64, timeout: Duration) -> Result<(), RunError> {
        self.log
            .wait_for(self.topic, partition, Offset(position), timeout)?;
        Ok(())
    }
}
