//! The consume-transform-produce loop: reads a topic from a consumer group's committed
//! positions, transforms each record and writes it to another topic of the same log.
//!
//! Under [`Guarantee::ExactlyOnce`] the outputs and the new group positions go into one
//! transaction per commit interval: killed at any moment and run again, the output topic
//! (read committed) holds every input record exactly once. Under
//! [`Guarantee::AtLeastOnce`] outputs are plain appends and positions are committed after
//! them: a kill between the two duplicates the outputs written since the last commit.
//!
//! This is the one implementation of the loop outside the stream engine. It is a library
//! module rather than an engine `Job` with an identity step because its contract differs
//! from a job's: its positions are a consumer group's, kept in `__consumer_offsets` where
//! any other consumer of the group reads them (a job keeps its positions in its own
//! checkpoints), it needs no job directory, and it offers an at-least-once mode whose
//! duplicates are the point of comparing the two guarantees.
//!
//! # Example
//! ```
//! use exactly_log::copy::{copy, CopyOptions, Guarantee, Transform};
//! use exactly_log::{Log, LogConfig, Record};
//! use exactly_core::{Offset, Timestamp};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = std::env::temp_dir().join(format!("copy-doc-{}", std::process::id()));
//! let log = Log::open(&dir, LogConfig::default())?;
//! log.create_topic("in", 1)?;
//! log.create_topic("out", 1)?;
//! let record = Record { timestamp: Timestamp(0), key: None, value: b"hi".to_vec() };
//! log.append("in", 0, &[record], None)?;
//! let options = CopyOptions::new("in", "out", "copier", Transform::Upper, Guarantee::ExactlyOnce);
//! let copied = copy(&log, &options)?;
//! assert_eq!(copied.copied, 1);
//! // Run again: the group's positions say everything was copied.
//! assert_eq!(copy(&log, &options)?.copied, 0);
//! # drop(log);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```

use crate::{
    partition_for_key, AppendError, Isolation, Log, ReadError, Record, StoredRecord,
    TransactionalProducer, TxnError,
};
use exactly_core::Offset;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// What happens to each value on the way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Transform {
    /// Unchanged.
    Identity,
    /// UTF-8 upper-cased (non-UTF-8 values unchanged).
    Upper,
}

/// Delivery guarantee of the copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Guarantee {
    /// Outputs and positions in one transaction.
    ExactlyOnce,
    /// Outputs first, positions after: duplicates after a crash.
    AtLeastOnce,
}

/// What to copy, and how.
#[derive(Clone, Debug)]
pub struct CopyOptions {
    /// Input topic.
    pub from: String,
    /// Output topic.
    pub to: String,
    /// Consumer group whose positions are read and committed.
    pub group: String,
    /// Transactional id (exactly-once).
    pub transactional_id: String,
    /// Transformation of each value.
    pub transform: Transform,
    /// Commit (outputs + positions) at least this often.
    pub commit_interval: Duration,
    /// Exactly-once or at-least-once.
    pub guarantee: Guarantee,
    /// Keep running and copy new input as it arrives (never returns unless it fails).
    pub follow: bool,
}

impl CopyOptions {
    /// Options with the transactional id `exactly-copy`, a 100 ms commit interval and no
    /// following.
    pub fn new(
        from: &str,
        to: &str,
        group: &str,
        transform: Transform,
        guarantee: Guarantee,
    ) -> Self {
        Self {
            from: from.to_string(),
            to: to.to_string(),
            group: group.to_string(),
            transactional_id: "exactly-copy".to_string(),
            transform,
            commit_interval: Duration::from_millis(100),
            guarantee,
            follow: false,
        }
    }
}

/// What a copy did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Copied {
    /// Records written to the output (under at-least-once, duplicates included).
    pub copied: u64,
    /// Commits (transactions, or position commits).
    pub commits: u64,
}

/// Why a copy stopped.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// The input topic does not exist.
    #[error("unknown input topic '{0}'")]
    UnknownInput(String),
    /// The output topic does not exist.
    #[error("unknown output topic '{0}'")]
    UnknownOutput(String),
    /// Input and output are the same topic.
    #[error("--from and --to must differ")]
    SameTopic,
    /// A transaction under the id is prepared: it belongs to a two-phase-commit user.
    #[error("transactional id '{0}' holds a prepared transaction")]
    Prepared(String),
    /// Reading the input failed.
    #[error("reading {topic}/{partition}")]
    Read {
        /// Topic.
        topic: String,
        /// Partition.
        partition: u32,
        /// Cause.
        source: ReadError,
    },
    /// Appending an output failed (at-least-once).
    #[error("appending to {topic}/{partition}")]
    Append {
        /// Topic.
        topic: String,
        /// Partition.
        partition: u32,
        /// Cause.
        source: AppendError,
    },
    /// A transaction or position operation failed.
    #[error(transparent)]
    Txn(#[from] TxnError),
}

/// Copies `options.from` to `options.to` in `log` from the group's committed positions
/// (the input's start where it has none) until the input is drained — or forever with
/// `options.follow`. `log` must own the output topic and the transaction topics.
pub fn copy(log: &Log, options: &CopyOptions) -> Result<Copied, CopyError> {
    let inputs = log
        .partition_count(&options.from)
        .ok_or_else(|| CopyError::UnknownInput(options.from.clone()))?;
    let outputs = log
        .partition_count(&options.to)
        .ok_or_else(|| CopyError::UnknownOutput(options.to.clone()))?;
    if options.from == options.to {
        return Err(CopyError::SameTopic);
    }
    let committed = log.committed_offsets(&options.group)?;
    let mut positions = BTreeMap::new();
    for partition in 0..inputs {
        let position = match committed.get(&(options.from.clone(), partition)) {
            Some(position) => *position,
            // The group never committed here: it starts at the beginning of the input.
            None => {
                log.partition_info(&options.from, partition)
                    .map_err(|source| read_error(log, &options.from, partition, source))?
                    .start_offset
            }
        };
        positions.insert(partition, position);
    }
    let mut run = Run {
        log,
        options,
        outputs,
        positions,
        done: Copied::default(),
    };
    match options.guarantee {
        Guarantee::ExactlyOnce => {
            let producer = log.transactional_producer(&options.transactional_id, TXN_TIMEOUT_MS)?;
            if producer.is_prepared() {
                // `copy` never prepares; a prepared transaction under this id belongs to a
                // two-phase-commit user, so refuse rather than guess its outcome.
                return Err(CopyError::Prepared(options.transactional_id.clone()));
            }
            run.run(&mut TransactionSink {
                producer,
                to: &options.to,
                group: &options.group,
            })?;
        }
        Guarantee::AtLeastOnce => run.run(&mut AppendSink {
            log,
            to: &options.to,
            group: &options.group,
        })?,
    }
    Ok(run.done)
}

/// Timeout of the copy's transactions.
const TXN_TIMEOUT_MS: i64 = 60_000;

fn read_error(log: &Log, topic: &str, partition: u32, source: ReadError) -> CopyError {
    tracing::warn!(dir = %log.dir().display(), topic, partition, error = %source, "copy: read failed");
    CopyError::Read {
        topic: topic.to_string(),
        partition,
        source,
    }
}

fn transform(record: &StoredRecord, how: Transform) -> Record {
    let value = match (how, std::str::from_utf8(&record.value)) {
        (Transform::Upper, Ok(text)) => text.to_uppercase().into_bytes(),
        _ => record.value.clone(),
    };
    Record {
        timestamp: record.timestamp,
        key: record.key.clone(),
        value,
    }
}

/// Output partition: by key, else the input partition (so input order per partition is
/// kept in the output).
fn output_partition(record: &Record, input_partition: u32, outputs: u32) -> u32 {
    match &record.key {
        Some(key) => partition_for_key(key, outputs),
        None => input_partition % outputs,
    }
}

/// Where outputs and positions go: a transaction, or plain appends then positions.
trait CopySink {
    /// Starts a commit interval.
    fn begin(&mut self) -> Result<(), CopyError>;
    /// Writes outputs for one output partition.
    fn write(&mut self, partition: u32, records: &[Record]) -> Result<(), CopyError>;
    /// Commits the interval's outputs and the positions reached.
    fn commit(&mut self, positions: &[(String, u32, Offset)]) -> Result<(), CopyError>;
}

/// Exactly-once: outputs and positions in one transaction per interval.
struct TransactionSink<'a> {
    producer: TransactionalProducer<'a>,
    to: &'a str,
    group: &'a str,
}

impl CopySink for TransactionSink<'_> {
    fn begin(&mut self) -> Result<(), CopyError> {
        Ok(self.producer.begin()?)
    }
    fn write(&mut self, partition: u32, records: &[Record]) -> Result<(), CopyError> {
        self.producer.send(self.to, partition, records)?;
        Ok(())
    }
    fn commit(&mut self, positions: &[(String, u32, Offset)]) -> Result<(), CopyError> {
        self.producer.add_offsets(self.group, positions)?;
        Ok(self.producer.commit()?)
    }
}

/// At-least-once: plain appends, positions committed after them.
struct AppendSink<'a> {
    log: &'a Log,
    to: &'a str,
    group: &'a str,
}

impl CopySink for AppendSink<'_> {
    fn begin(&mut self) -> Result<(), CopyError> {
        Ok(())
    }
    fn write(&mut self, partition: u32, records: &[Record]) -> Result<(), CopyError> {
        self.log
            .append(self.to, partition, records, None)
            .map_err(|source| {
                tracing::warn!(dir = %self.log.dir().display(), topic = self.to, partition,
                    error = %source, "copy: append failed");
                CopyError::Append {
                    topic: self.to.to_string(),
                    partition,
                    source,
                }
            })?;
        Ok(())
    }
    fn commit(&mut self, positions: &[(String, u32, Offset)]) -> Result<(), CopyError> {
        Ok(self.log.commit_offsets(self.group, positions)?)
    }
}

/// One copy in progress: where it stands per input partition, and what it has done.
struct Run<'a> {
    log: &'a Log,
    options: &'a CopyOptions,
    outputs: u32,
    positions: BTreeMap<u32, Offset>,
    done: Copied,
}

impl Run<'_> {
    fn offsets(&self) -> Vec<(String, u32, Offset)> {
        self.positions
            .iter()
            .map(|(p, o)| (self.options.from.clone(), *p, *o))
            .collect()
    }

    /// Reads the next chunk of each input partition; returns the outputs by output
    /// partition.
    fn poll(&mut self) -> Result<BTreeMap<u32, Vec<Record>>, CopyError> {
        let mut out: BTreeMap<u32, Vec<Record>> = BTreeMap::new();
        for (partition, position) in self.positions.iter_mut() {
            let batch = self
                .log
                .read_with(
                    &self.options.from,
                    *partition,
                    *position,
                    1000,
                    Isolation::ReadCommitted,
                )
                .map_err(|source| read_error(self.log, &self.options.from, *partition, source))?;
            *position = batch.next_offset;
            for record in &batch.records {
                let output = transform(record, self.options.transform);
                let target = output_partition(&output, *partition, self.outputs);
                out.entry(target).or_default().push(output);
            }
        }
        Ok(out)
    }

    /// Polls, transforms and writes for one commit interval at a time, until the input is
    /// drained (or forever when following).
    fn run(&mut self, sink: &mut dyn CopySink) -> Result<(), CopyError> {
        loop {
            sink.begin()?;
            let since = Instant::now();
            let mut drained = false;
            while since.elapsed() < self.options.commit_interval {
                let batch = self.poll()?;
                if batch.is_empty() {
                    drained = true;
                    break;
                }
                for (partition, records) in &batch {
                    sink.write(*partition, records)?;
                    self.done.copied += records.len() as u64;
                }
            }
            sink.commit(&self.offsets())?;
            self.done.commits += 1;
            if drained && !self.options.follow {
                return Ok(());
            }
            if drained {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}
