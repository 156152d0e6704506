//! The idempotent-producer demo's input and its audit: numbered records written as JSON
//! lines for `exactly log produce`, then the log checked record by record — every id
//! stored exactly once, in order within its partition, in the partition of its key.

use exactly_log::{
    partition_for_key, Durability, Log, LogConfig, MaintenanceError, OpenError, ReadError,
    TopicError,
};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Distinct keys of the generated records (`account-<id mod KEYS>`).
const KEYS: u64 = 10_000;

/// Timestamp of record 0; record `id` is stamped `EPOCH_MS + id`.
const EPOCH_MS: i64 = 1_700_000_000_000;

/// Records read per `read` call of the audit.
const READ_RECORDS: usize = 50_000;

/// What the audit of a produced topic found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProducerAudit {
    /// Records stored in the topic.
    pub stored: u64,
    /// Ids sent but not stored.
    pub missing: u64,
    /// Records whose id was stored before.
    pub duplicated: u64,
    /// Records whose id is not above the previous one of their partition.
    pub out_of_order: u64,
    /// Records not in the partition of their key.
    pub misrouted: u64,
}

impl ProducerAudit {
    /// Every one of `sent` records stored exactly once, in order, where its key belongs.
    pub fn exactly_once(&self, sent: u64) -> bool {
        self.stored == sent
            && self.missing == 0
            && self.duplicated == 0
            && self.out_of_order == 0
            && self.misrouted == 0
    }
}

/// Why the input could not be prepared or the log not audited.
#[derive(Debug, thiserror::Error)]
pub enum ProducerAuditError {
    /// Writing the input file failed.
    #[error("writing {path}: {source}")]
    Input {
        /// The input file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The log did not open.
    #[error("opening the log: {0}")]
    Open(#[from] OpenError),
    /// The topic could not be created.
    #[error("creating the topic: {0}")]
    Topic(#[from] TopicError),
    /// Reading the log failed.
    #[error("reading the log: {0}")]
    Read(#[from] ReadError),
    /// Closing the log failed.
    #[error("closing the log: {0}")]
    Close(#[from] MaintenanceError),
    /// A stored value is not a record id.
    #[error("a stored value is not a record id: {0:?}")]
    NotAnId(String),
    /// A stored id was never sent.
    #[error("record id {0} was never sent")]
    NeverSent(u64),
}

/// Writes `records` JSON lines `{"key","value","timestamp"}` to `path`; the value is the
/// record's id (0, 1, …), the key one of 10,000 accounts.
pub fn write_input(path: &Path, records: u64) -> Result<(), ProducerAuditError> {
    let input = |source| ProducerAuditError::Input {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::create(path).map_err(input)?;
    let mut out = BufWriter::new(file);
    for id in 0..records {
        writeln!(
            out,
            r#"{{"key":"account-{}","value":"{id}","timestamp":{}}}"#,
            id % KEYS,
            EPOCH_MS + id as i64
        )
        .map_err(input)?;
    }
    out.flush().map_err(input)
}

/// Creates `topic` with `partitions` in a new log in `log_dir`.
pub fn create_topic(
    log_dir: &Path,
    topic: &str,
    partitions: u32,
) -> Result<(), ProducerAuditError> {
    let log = Log::open(log_dir, LogConfig::default())?;
    log.create_topic(topic, partitions)?;
    log.close()?;
    Ok(())
}

/// Reads every partition of `topic` in the log in `log_dir` and checks the ids 0..`records`.
pub fn audit_log(
    log_dir: &Path,
    topic: &str,
    records: u64,
    partitions: u32,
) -> Result<ProducerAudit, ProducerAuditError> {
    let config = LogConfig {
        durability: Durability::Immediate,
        ..LogConfig::default()
    };
    let log = Log::open(log_dir, config)?;
    let mut seen = vec![false; records as usize];
    let mut audit = ProducerAudit::default();
    for partition in 0..partitions {
        let mut next = log.partition_info(topic, partition)?.start_offset;
        let mut last_id: Option<u64> = None;
        loop {
            let batch = log.read(topic, partition, next, READ_RECORDS)?;
            let Some(last) = batch.last() else { break };
            next = last.offset.next();
            for record in &batch {
                audit.stored += 1;
                let id = parse_id(&record.value)?;
                match seen.get_mut(id as usize) {
                    Some(slot) if *slot => audit.duplicated += 1,
                    Some(slot) => *slot = true,
                    None => return Err(ProducerAuditError::NeverSent(id)),
                }
                if last_id.is_some_and(|previous| previous >= id) {
                    audit.out_of_order += 1;
                }
                last_id = Some(id);
                let key: &[u8] = match &record.key {
                    Some(key) => key,
                    // Every record written is keyed; an unkeyed one belongs where the
                    // empty key does, as the log places it.
                    None => &[],
                };
                if partition_for_key(key, partitions) != partition {
                    audit.misrouted += 1;
                }
            }
        }
    }
    audit.missing = seen.iter().filter(|s| !**s).count() as u64;
    log.close()?;
    Ok(audit)
}

fn parse_id(value: &[u8]) -> Result<u64, ProducerAuditError> {
    let text = String::from_utf8_lossy(value);
    text.parse()
        .map_err(|_| ProducerAuditError::NotAnId(text.into_owned()))
}
