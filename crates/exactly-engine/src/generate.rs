//! Writing generated input for the built-in jobs into a topic of the embedded log:
//! transfers (ids continuing after the records already there, so writing again adds new
//! transfers) and lines of words. The generators themselves are in [`crate::jobs`].

use crate::jobs::{generate_lines, generate_transfers, transfer_record, GENERATED_EPOCH_MS};
use exactly_core::Timestamp;
use exactly_log::{
    partition_for_key, AppendError, Log, LogConfig, MaintenanceError, OpenError, ReadError, Record,
    TopicError, WriteScope,
};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Records generated per append round (bounds the memory of a large generation).
pub const CHUNK_RECORDS: u64 = 100_000;

/// Records per `append` call.
const APPEND_RECORDS: usize = 4096;

/// Where and how much to generate.
#[derive(Clone, Debug)]
pub struct GenTarget {
    /// Log directory.
    pub dir: PathBuf,
    /// Topic (created with `partitions` if missing).
    pub topic: String,
    /// Partitions when the topic is created.
    pub partitions: u32,
    /// Records to write.
    pub count: u64,
    /// Seed of the generator.
    pub seed: u64,
}

/// What a generation wrote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GenSummary {
    /// The topic written.
    pub topic: String,
    /// Its partition count.
    pub partitions: u32,
    /// Records written now.
    pub written: u64,
    /// Id of the first record written now (the records there before).
    pub first_id: u64,
    /// Records in the topic afterwards.
    pub total: u64,
}

/// Why generated input could not be written.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    /// Transfers need two accounts.
    #[error("--accounts must be at least 2, got {0}")]
    TooFewAccounts(u64),
    /// The log did not open.
    #[error("opening the log in {dir}: {source}")]
    Open {
        /// The log directory.
        dir: PathBuf,
        /// Why.
        source: OpenError,
    },
    /// The topic could not be created.
    #[error("creating the topic: {0}")]
    Topic(#[from] TopicError),
    /// The records already there could not be counted.
    #[error("counting the records already in the topic: {0}")]
    Read(#[from] ReadError),
    /// A generated transfer could not be encoded.
    #[error("encoding a transfer: {0}")]
    Encode(#[from] serde_json::Error),
    /// An append failed.
    #[error("appending: {0}")]
    Append(#[from] AppendError),
    /// Closing the log failed.
    #[error("closing the log: {0}")]
    Close(#[from] MaintenanceError),
}

/// What to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GenKind {
    /// Transfers `{"id","from","to","amount"}` between this many accounts (at least 2),
    /// keyed by the debited account.
    Transfers {
        /// Number of accounts.
        accounts: u64,
    },
    /// Lines of words from a vocabulary of this many words, keyed `line-<id>`.
    Lines {
        /// Distinct words.
        vocabulary: u64,
    },
}

impl GenKind {
    /// Refuses what cannot be generated (transfers between fewer than 2 accounts).
    pub fn check(&self) -> Result<(), GenError> {
        match *self {
            GenKind::Transfers { accounts } if accounts < 2 => {
                Err(GenError::TooFewAccounts(accounts))
            }
            _ => Ok(()),
        }
    }

    /// The `count` records with ids `first..first + count` of the sequence `seed` names:
    /// the same records whichever log they are written to.
    pub fn records(&self, seed: u64, first: u64, count: u64) -> Result<Vec<Record>, GenError> {
        Ok(match *self {
            GenKind::Transfers { accounts } => generate_transfers(seed, first, count, accounts)
                .iter()
                .map(transfer_record)
                .collect::<Result<Vec<_>, _>>()?,
            GenKind::Lines { vocabulary } => generate_lines(seed ^ first, count, vocabulary)
                .into_iter()
                .zip(first..)
                .map(|(line, id)| Record {
                    timestamp: Timestamp(GENERATED_EPOCH_MS + id as i64),
                    key: Some(format!("line-{id}").into_bytes()),
                    value: line.into_bytes(),
                })
                .collect(),
        })
    }
}

/// Appends `target.count` generated records of `kind`; ids continue after the records
/// already in the topic.
pub fn write_generated(target: &GenTarget, kind: GenKind) -> Result<GenSummary, GenError> {
    kind.check()?;
    write(target, |first, count, seed| {
        kind.records(seed, first, count)
    })
}

/// Appends `target.count` generated transfers between `accounts` accounts, keyed by the
/// debited account; ids continue after the records already in the topic.
pub fn write_transfers(target: &GenTarget, accounts: u64) -> Result<GenSummary, GenError> {
    write_generated(target, GenKind::Transfers { accounts })
}

/// Appends `target.count` lines of words from a vocabulary of `vocabulary` words, keyed
/// `line-<id>`, ids continuing after the records already in the topic.
pub fn write_lines(target: &GenTarget, vocabulary: u64) -> Result<GenSummary, GenError> {
    write_generated(target, GenKind::Lines { vocabulary })
}

/// Opens the log owning only the topic (a job may follow the log meanwhile) and appends
/// what `generate(first_id, count, seed)` makes, in rounds, each record to the partition
/// of its key.
fn write(
    target: &GenTarget,
    generate: impl Fn(u64, u64, u64) -> Result<Vec<Record>, GenError>,
) -> Result<GenSummary, GenError> {
    let scope = WriteScope::topics([target.topic.as_str()]);
    let log = Log::open_scoped(&target.dir, LogConfig::default(), scope).map_err(|source| {
        tracing::warn!(dir = %target.dir.display(), %source, "generate: cannot open the log");
        GenError::Open {
            dir: target.dir.clone(),
            source,
        }
    })?;
    let partitions = match log.partition_count(&target.topic) {
        Some(existing) => existing,
        None => {
            log.create_topic(&target.topic, target.partitions)?;
            target.partitions
        }
    };
    let start = existing_records(&log, &target.topic, partitions)?;
    let end = start + target.count;
    let mut first = start;
    while first < end {
        let count = CHUNK_RECORDS.min(end - first);
        let mut by_partition: BTreeMap<u32, Vec<Record>> = BTreeMap::new();
        for record in generate(first, count, target.seed)? {
            let partition = partition_for_key(key_of(&record), partitions);
            by_partition.entry(partition).or_default().push(record);
        }
        for (partition, records) in by_partition {
            for chunk in records.chunks(APPEND_RECORDS) {
                log.append(&target.topic, partition, chunk, None)?;
            }
        }
        first += count;
    }
    log.close()?;
    Ok(GenSummary {
        topic: target.topic.clone(),
        partitions,
        written: end - start,
        first_id: start,
        total: end,
    })
}

/// The partitioning key: generated records are all keyed; an unkeyed one would go where
/// the empty key goes, as the log itself places unkeyed records.
pub fn key_of(record: &Record) -> &[u8] {
    match &record.key {
        Some(key) => key,
        None => &[],
    }
}

/// Records already in the topic (the next generated id).
fn existing_records(log: &Log, topic: &str, partitions: u32) -> Result<u64, ReadError> {
    let mut total = 0;
    for partition in 0..partitions {
        let info = log.partition_info(topic, partition)?;
        total += info.end_offset.0 - info.start_offset.0;
    }
    Ok(total)
}

/// The same as [`write_transfers`] for a directory given as a path (what the demo uses).
pub fn transfers_into(
    dir: &Path,
    topic: &str,
    partitions: u32,
    count: u64,
    accounts: u64,
    seed: u64,
) -> Result<GenSummary, GenError> {
    let target = GenTarget {
        dir: dir.to_path_buf(),
        topic: topic.to_string(),
        partitions,
        count,
        seed,
    };
    write_transfers(&target, accounts)
}
