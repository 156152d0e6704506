//! The resumable idempotent [`Batcher`]: routes records to partitions, cuts them into
//! deterministic batches and appends the batches of different partitions in parallel.
//!
//! With a producer id, every record's sequence number is its position among the records
//! routed to its partition, and batches are cut deterministically (at most
//! `batch_records` records and at most the log's batch size in bytes, counted with
//! [`record_bytes_bound`], which does not depend on timestamps). Feeding the same input
//! again after a crash therefore re-sends the same batches: the log answers `Duplicate`
//! for those it already has and appends the rest — exactly once. That the input is the
//! same is checked against the write-ahead [`InputFingerprint`].

use super::fingerprint::{FingerprintError, InputFingerprint};
use super::record::record_bytes_bound;
use crate::batch::HEADER_BYTES;
use crate::{partition_for_key, AppendError, AppendOutcome, Log, ProducerStamp, Record};
use exactly_core::{ProducerEpoch, ProducerId, Sequence};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Most appender threads one batcher runs (partitions share them round-robin).
const APPENDERS_MAX: usize = 8;

/// Why the batcher cannot start or could not append.
#[derive(Debug, thiserror::Error)]
pub enum BatcherError {
    /// The topic does not exist.
    #[error("unknown topic '{0}'")]
    UnknownTopic(String),
    /// `batch_records` is zero.
    #[error("batch_records must be at least 1")]
    NoBatchRecords,
    /// The input fingerprint cannot be opened or written.
    #[error(transparent)]
    Fingerprint(#[from] FingerprintError),
    /// The log refused an append.
    #[error("appending to {topic}/{partition}")]
    Append {
        /// Topic.
        topic: String,
        /// Partition.
        partition: u32,
        /// Cause.
        source: AppendError,
    },
    /// A partition number past the topic's partitions was given.
    #[error("partition {0} out of range")]
    PartitionOutOfRange(u32),
    /// An appender thread panicked.
    #[error("appender thread panicked")]
    AppenderPanicked,
    /// An appender stopped without saying why.
    #[error("an appender stopped unexpectedly")]
    AppenderStopped,
}

/// One batch for one partition, with the sequence of its first record.
struct Job {
    partition: u32,
    records: Vec<Record>,
    first_sequence: u64,
}

/// What the appenders did.
#[derive(Default)]
struct Counters {
    appended: AtomicU64,
    deduplicated: AtomicU64,
}

struct Appender {
    jobs: Option<SyncSender<Job>>,
    thread: Option<JoinHandle<Result<(), BatcherError>>>,
}

/// Routes records to partitions, cuts them into deterministic batches and hands each batch
/// to the appender thread that owns its partition. Partitions are appended to in
/// parallel, so their fsyncs overlap; within a partition, batches stay in input order.
pub struct Batcher {
    batch_records: usize,
    /// Bytes of records a batch may hold (the log's batch limit minus the header).
    batch_record_bytes_max: usize,
    batch_bytes_max: u32,
    pending: Vec<Vec<Record>>,
    pending_bytes: Vec<usize>,
    next_sequence: Vec<u64>,
    routed: u64,
    fingerprint: Option<InputFingerprint>,
    appenders: Vec<Appender>,
    counters: Arc<Counters>,
}

/// Why [`Batcher::admit`] refused a record.
#[derive(Debug, thiserror::Error)]
pub enum AdmitError {
    /// The record cannot fit in any batch.
    #[error("the record takes up to {record_bytes} bytes in a batch")]
    TooLarge {
        /// Bound of the record's encoded size, header included.
        record_bytes: usize,
        /// The log's batch limit.
        batch_bytes_max: u32,
    },
    /// The input is not the one an earlier run of this producer consumed.
    #[error(transparent)]
    Fingerprint(#[from] FingerprintError),
}

impl Batcher {
    /// Starts appending to `topic` of `log`, idempotently as `producer` if given (then the
    /// input fingerprint of that producer is opened and reconciled with the log).
    pub fn new(
        log: &Arc<Log>,
        topic: &str,
        producer: Option<(ProducerId, ProducerEpoch)>,
        batch_records: usize,
    ) -> Result<Self, BatcherError> {
        let partitions = log
            .partition_count(topic)
            .ok_or_else(|| BatcherError::UnknownTopic(topic.to_string()))?;
        if batch_records == 0 {
            return Err(BatcherError::NoBatchRecords);
        }
        let fingerprint = match producer {
            Some((id, epoch)) => Some(InputFingerprint::open(log, topic, partitions, id, epoch)?),
            None => None,
        };
        let batch_bytes_max = log.config().batch_bytes_max;
        let counters = Arc::new(Counters::default());
        let appenders = (0..APPENDERS_MAX.min(partitions as usize))
            .map(|_| spawn_appender(log, topic, producer, &counters))
            .collect();
        Ok(Self {
            batch_records,
            batch_record_bytes_max: (batch_bytes_max as usize).saturating_sub(HEADER_BYTES),
            batch_bytes_max,
            pending: vec![Vec::new(); partitions as usize],
            pending_bytes: vec![0; partitions as usize],
            next_sequence: vec![0; partitions as usize],
            routed: 0,
            fingerprint,
            appenders,
            counters,
        })
    }

    /// Routes the record of input line `line_no` (whose raw bytes hash to `line_hash`, see
    /// [`super::line_hash`]), checks that it fits in a batch and matches what an earlier
    /// run of this producer consumed; returns its partition. Nothing is queued.
    pub fn admit(
        &mut self,
        record: &Record,
        line_no: u64,
        line_hash: u64,
    ) -> Result<u32, AdmitError> {
        let record_bytes = record_bytes_bound(record);
        if record_bytes > self.batch_record_bytes_max {
            return Err(AdmitError::TooLarge {
                record_bytes: record_bytes + HEADER_BYTES,
                batch_bytes_max: self.batch_bytes_max,
            });
        }
        let partitions = self.pending.len() as u32;
        let partition = match &record.key {
            Some(key) => partition_for_key(key, partitions),
            None => (self.routed % u64::from(partitions)) as u32,
        };
        self.routed += 1;
        if let Some(fingerprint) = self.fingerprint.as_mut() {
            fingerprint.admit(line_no, line_hash, partition)?;
        }
        Ok(partition)
    }

    /// Queues an admitted record; hands its partition's batch to an appender when the
    /// record would not fit in it, and when it is full.
    pub fn queue(&mut self, partition: u32, record: Record) -> Result<(), BatcherError> {
        let record_bytes = record_bytes_bound(&record);
        let queued_bytes = self.pending_bytes.get(partition as usize).copied();
        let Some(queued_bytes) = queued_bytes else {
            return Err(BatcherError::PartitionOutOfRange(partition));
        };
        if queued_bytes + record_bytes > self.batch_record_bytes_max {
            self.flush_partition(partition)?;
        }
        let (Some(queue), Some(bytes)) = (
            self.pending.get_mut(partition as usize),
            self.pending_bytes.get_mut(partition as usize),
        ) else {
            return Err(BatcherError::PartitionOutOfRange(partition));
        };
        queue.push(record);
        *bytes += record_bytes;
        if queue.len() >= self.batch_records {
            self.flush_partition(partition)?;
        }
        Ok(())
    }

    /// Records appended and found already in the log so far (complete after `finish`).
    fn counts(&self) -> (u64, u64) {
        (
            self.counters.appended.load(Ordering::SeqCst),
            self.counters.deduplicated.load(Ordering::SeqCst),
        )
    }

    /// Appends every queued record, waits for the appenders, and returns
    /// `(appended, deduplicated)`.
    pub fn finish(mut self) -> Result<(u64, u64), BatcherError> {
        let flushed = (0..self.pending.len() as u32).try_for_each(|p| self.flush_partition(p));
        let joined = self.join_appenders();
        flushed.and(joined)?;
        Ok(self.counts())
    }

    fn flush_partition(&mut self, partition: u32) -> Result<(), BatcherError> {
        let index = partition as usize;
        let out_of_range = || BatcherError::PartitionOutOfRange(partition);
        let records = std::mem::take(self.pending.get_mut(index).ok_or_else(out_of_range)?);
        if records.is_empty() {
            return Ok(());
        }
        *self.pending_bytes.get_mut(index).ok_or_else(out_of_range)? = 0;
        // Write-ahead: the fingerprint knows these records before the log may hold them.
        if let Some(fingerprint) = self.fingerprint.as_mut() {
            fingerprint.sync()?;
        }
        let sequence = self.next_sequence.get_mut(index).ok_or_else(out_of_range)?;
        let first_sequence = *sequence;
        *sequence += records.len() as u64;
        let job = Job {
            partition,
            records,
            first_sequence,
        };
        let count = self.appenders.len();
        let appender = self
            .appenders
            .get(index % count)
            .ok_or(BatcherError::AppenderStopped)?;
        let sent = appender.jobs.as_ref().map(|jobs| jobs.send(job));
        if !matches!(sent, Some(Ok(()))) {
            // The appender stopped: its error says why.
            self.join_appenders()?;
            return Err(BatcherError::AppenderStopped);
        }
        Ok(())
    }

    /// Closes every appender's queue and waits; returns the first error.
    fn join_appenders(&mut self) -> Result<(), BatcherError> {
        for appender in &mut self.appenders {
            appender.jobs = None;
        }
        let mut first_error = None;
        for appender in &mut self.appenders {
            let Some(thread) = appender.thread.take() else {
                continue;
            };
            let result = match thread.join() {
                Ok(result) => result,
                Err(_) => Err(BatcherError::AppenderPanicked),
            };
            if let Err(e) = result {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

fn spawn_appender(
    log: &Arc<Log>,
    topic: &str,
    producer: Option<(ProducerId, ProducerEpoch)>,
    counters: &Arc<Counters>,
) -> Appender {
    // Two batches in flight per appender: the next one is encoded while one is fsynced.
    let (jobs, queue) = sync_channel::<Job>(2);
    let (log, topic, counters) = (Arc::clone(log), topic.to_string(), Arc::clone(counters));
    let thread = std::thread::spawn(move || -> Result<(), BatcherError> {
        for job in queue {
            append_job(
                &log,
                &topic,
                producer,
                &job.records,
                job.partition,
                job.first_sequence,
                &counters,
            )?;
        }
        Ok(())
    });
    Appender {
        jobs: Some(jobs),
        thread: Some(thread),
    }
}

fn append_job(
    log: &Log,
    topic: &str,
    producer: Option<(ProducerId, ProducerEpoch)>,
    records: &[Record],
    partition: u32,
    first_sequence: u64,
    counters: &Counters,
) -> Result<(), BatcherError> {
    let stamp = producer.map(|(producer_id, epoch)| ProducerStamp {
        producer_id,
        epoch,
        base_sequence: Sequence(first_sequence),
    });
    let count = records.len() as u64;
    match log.append(topic, partition, records, stamp) {
        Ok(AppendOutcome::Appended { .. }) => {
            counters.appended.fetch_add(count, Ordering::SeqCst);
        }
        Ok(AppendOutcome::Duplicate { .. }) => {
            counters.deduplicated.fetch_add(count, Ordering::SeqCst);
        }
        // A re-run with different batch boundaries overlaps a stored batch: the log says
        // where it stands; the part before that is already there.
        Err(AppendError::OutOfOrderSequence { expected, .. })
            if stamp.is_some() && expected.0 > first_sequence =>
        {
            let already = (expected.0 - first_sequence).min(count);
            counters.deduplicated.fetch_add(already, Ordering::SeqCst);
            if let Some(rest) = records.get(already as usize..).filter(|r| !r.is_empty()) {
                append_job(log, topic, producer, rest, partition, expected.0, counters)?;
            }
        }
        Err(source) => {
            tracing::warn!(topic, partition, error = %source, dir = %log.dir().display(), "append failed");
            return Err(BatcherError::Append {
                topic: topic.to_string(),
                partition,
                source,
            });
        }
    }
    Ok(())
}
