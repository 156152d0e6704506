//! Reading a topic as `exactly log consume` does: every partition (or one) from a start
//! (the first offset kept, an offset, or a time), one partition after the other to its
//! end as of the call, or following the tail (also what other processes append), at most
//! a number of records in all. Each record goes to a [`RecordSink`], which may stop the
//! reading (a reader that went away).
//!
//! # Example
//! ```
//! use exactly_log::consume::{consume, ConsumeOptions, RecordSink, Start};
//! use exactly_log::{Isolation, Log, LogConfig, Record, StoredRecord};
//! use exactly_core::Timestamp;
//! use std::ops::ControlFlow;
//!
//! struct Values(Vec<Vec<u8>>);
//! impl RecordSink for Values {
//!     fn record(&mut self, _partition: u32, record: &StoredRecord) -> ControlFlow<()> {
//!         self.0.push(record.value.clone());
//!         ControlFlow::Continue(())
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let log = Log::open(dir.path(), LogConfig::default())?;
//! log.create_topic("t", 1)?;
//! let record = Record { timestamp: Timestamp(0), key: None, value: b"v".to_vec() };
//! log.append("t", 0, &[record], None)?;
//! let options = ConsumeOptions {
//!     topic: "t".into(),
//!     partition: None,
//!     start: Start::Earliest,
//!     max: None,
//!     isolation: Isolation::ReadCommitted,
//!     follow: false,
//! };
//! let mut values = Values(Vec::new());
//! consume(&log, &options, &mut values)?;
//! assert_eq!(values.0, [b"v".to_vec()]);
//! # Ok(()) }
//! ```

use crate::error::ReadError;
use crate::log::Log;
use crate::partition::Isolation;
use crate::StoredRecord;
use exactly_core::{Offset, Timestamp};
use std::ops::ControlFlow;
use std::time::Duration;

/// Records asked for per read while following.
const FOLLOW_BATCH_RECORDS: u64 = 10_000;

/// How long one wait for new records lasts while following (then every partition is
/// looked at again).
const FOLLOW_WAIT: Duration = Duration::from_millis(200);

/// Where reading starts in each partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// The first offset the partition still holds.
    Earliest,
    /// This offset.
    Offset(Offset),
    /// The first record with a timestamp at or after this one (the end if none is yet).
    Time(Timestamp),
}

/// What to read.
#[derive(Clone, Debug)]
pub struct ConsumeOptions {
    /// The topic.
    pub topic: String,
    /// Only this partition (`None`: all, one after the other).
    pub partition: Option<u32>,
    /// Where each partition starts.
    pub start: Start,
    /// Stop after this many records in all (`None`: no limit).
    pub max: Option<u64>,
    /// Committed transactions only, or everything.
    pub isolation: Isolation,
    /// Keep waiting for new records instead of stopping at the end.
    pub follow: bool,
}

/// Where consumed records go.
pub trait RecordSink {
    /// Takes one record of `partition`; `Break` stops the reading (without an error).
    fn record(&mut self, partition: u32, record: &StoredRecord) -> ControlFlow<()>;

    /// Called while following, before waiting for new records: a chance to flush.
    fn idle(&mut self) {}
}

/// Reads what `options` asks for into `sink`; returns the records it took. Without
/// `follow` it returns at the end of the last partition; with it, only when `max` records
/// were taken or the sink stops.
pub fn consume(
    log: &Log,
    options: &ConsumeOptions,
    sink: &mut dyn RecordSink,
) -> Result<u64, ReadError> {
    let topic = options.topic.as_str();
    let count = log
        .partition_count(topic)
        .ok_or_else(|| ReadError::UnknownTopic {
            topic: topic.to_string(),
        })?;
    let partitions: Vec<u32> = match options.partition {
        Some(partition) if partition >= count => {
            return Err(ReadError::UnknownPartition {
                topic: topic.to_string(),
                partition,
                partitions: count,
            })
        }
        Some(partition) => vec![partition],
        None => (0..count).collect(),
    };
    let mut positions = Vec::with_capacity(partitions.len());
    for partition in partitions {
        positions.push((partition, start_offset(log, options, partition)?));
    }
    let limit = options.max.unwrap_or(u64::MAX);
    match options.follow {
        false => read_to_end(log, options, &positions, limit, sink),
        true => follow(log, options, positions, limit, sink),
    }
}

fn start_offset(log: &Log, options: &ConsumeOptions, partition: u32) -> Result<Offset, ReadError> {
    let info = log.partition_info(&options.topic, partition)?;
    Ok(match options.start {
        Start::Earliest => info.start_offset,
        Start::Offset(offset) => offset,
        Start::Time(time) => log
            .offset_for_time(&options.topic, partition, time)?
            .unwrap_or(info.end_offset),
    })
}

/// Each partition from its position to its end as of now, one after the other, at most
/// `limit` records in all.
fn read_to_end(
    log: &Log,
    options: &ConsumeOptions,
    positions: &[(u32, Offset)],
    limit: u64,
    sink: &mut dyn RecordSink,
) -> Result<u64, ReadError> {
    let mut taken = 0u64;
    for &(partition, position) in positions {
        for record in log.scan(&options.topic, partition, position, options.isolation)? {
            if taken >= limit {
                return Ok(taken);
            }
            let record = record?;
            if sink.record(partition, &record).is_break() {
                return Ok(taken);
            }
            taken += 1;
        }
    }
    Ok(taken)
}

/// Every partition to its current end, again and again, waiting on the first partition's
/// tail when none had anything new.
fn follow(
    log: &Log,
    options: &ConsumeOptions,
    mut positions: Vec<(u32, Offset)>,
    limit: u64,
    sink: &mut dyn RecordSink,
) -> Result<u64, ReadError> {
    let topic = options.topic.as_str();
    let mut taken = 0u64;
    loop {
        let mut progressed = false;
        for (partition, position) in positions.iter_mut() {
            loop {
                let want = (limit - taken).min(FOLLOW_BATCH_RECORDS) as usize;
                if want == 0 {
                    return Ok(taken);
                }
                let batch = log.read_with(topic, *partition, *position, want, options.isolation)?;
                let moved = batch.next_offset > *position;
                *position = batch.next_offset;
                if batch.records.is_empty() {
                    if moved {
                        continue; // Only markers or aborted batches: keep going.
                    }
                    break;
                }
                for record in &batch.records {
                    if sink.record(*partition, record).is_break() {
                        return Ok(taken);
                    }
                }
                taken += batch.records.len() as u64;
                progressed = true;
            }
        }
        if !progressed {
            sink.idle();
            if let Some((partition, position)) = positions.first() {
                log.wait_for(topic, *partition, *position, FOLLOW_WAIT)?;
            }
        }
    }
}
