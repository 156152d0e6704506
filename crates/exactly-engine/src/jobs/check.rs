//! The check of the `balances` job (`exactly run check`, the demo, the tests): reference
//! balances computed from the input, against the last committed output per account, the
//! dead letters against the input records that are not transfers, and R/UR of the applied
//! transfers from the audit.
//!
//! It reads through [`CommittedRecords`], so the same check runs on the embedded log and on
//! any other backend that can list a topic's committed records (NATS JetStream implements
//! it in `exactly-nats`). The input is parsed with [`parse_transfer`] (`serde_json`), not
//! with the job's own fast path, so the check stays an oracle independent of the job.

use super::parse::parse_transfer;
use crate::runtime::{decode_audit, DeadLetter, Lineage};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// What a check does with each record: `(partition, offset, value)`.
pub type EachRecord<'a> = dyn FnMut(u32, u64, &[u8]) -> Result<(), CheckError> + 'a;

/// Where a check reads committed records from.
pub trait CommittedRecords {
    /// Calls `each(partition, offset, value)` for every committed record of `topic` kept
    /// now, in offset order per partition; `Ok(false)` when the topic does not exist.
    /// Offsets are numbered as the job's input numbers them (its audit names them).
    fn for_each_record(&self, topic: &str, each: &mut EachRecord<'_>) -> Result<bool, CheckError>;
}

impl CommittedRecords for exactly_log::Log {
    fn for_each_record(&self, topic: &str, each: &mut EachRecord<'_>) -> Result<bool, CheckError> {
        if self.partition_count(topic).is_none() {
            return Ok(false);
        }
        for_each_committed(self, topic, |partition, record| {
            each(partition, record.offset.0, &record.value)
        })?;
        Ok(true)
    }
}

/// What [`check_balances`] found: the job's output against the reference computed from
/// its input, its dead letters against the input records that are not transfers, and R/UR
/// of the applied transfers from the audit.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct BalanceCheck {
    /// Transfers in the input.
    pub transfers: u64,
    /// Input records that do not parse as transfers (they must be dead letters).
    pub unparseable: u64,
    /// Records in the dead-letter topic for this input.
    pub dead_letters: u64,
    /// Unparseable input records with no dead letter (lost).
    pub dead_letters_missing: u64,
    /// Dead letters beyond the first per input record, or for a record that parses.
    pub dead_letters_extra: u64,
    /// Accounts in the reference.
    pub accounts: u64,
    /// Accounts whose last committed output differs from the reference (or is missing).
    pub accounts_wrong: u64,
    /// Sum over all last balances (0 when money is conserved).
    pub money_total: i128,
    /// Debit and credit events expected (two per transfer).
    pub events_expected: u64,
    /// Audit entries (applications, duplicates included); 0 when not audited.
    pub events_applied: u64,
    /// Distinct expected events applied at least once; 0 when not audited.
    pub events_unique: u64,
    /// Reliability: unique applied / expected — `None` (JSON `null`) without an audit:
    /// not measured.
    pub r: Option<f64>,
    /// Uniqueness: unique applied / applied — `None` without an audit.
    pub ur: Option<f64>,
    /// Whether an audit topic was read (R and UR are measured only then).
    pub audited: bool,
}

impl BalanceCheck {
    /// Every balance right, money conserved, every bad record dead-lettered once, and (if
    /// audited) R = UR = 1.
    pub fn exactly_once(&self) -> bool {
        let audit_ok = !self.audited
            || (self.events_unique == self.events_expected
                && self.events_applied == self.events_expected);
        let dead_letters_ok = self.dead_letters_missing == 0 && self.dead_letters_extra == 0;
        self.accounts_wrong == 0 && self.money_total == 0 && audit_ok && dead_letters_ok
    }

    /// The check for people, one line per figure, `dead_letters` naming the dead-letter
    /// topic; what was not measured says so.
    pub fn to_text(&self, dead_letters: &str) -> String {
        let ratio = |value: Option<f64>| match value {
            Some(v) => format!("{v:.6}"),
            None => "not measured (no --audit)".to_string(),
        };
        [
            format!("transfers          {}", self.transfers),
            format!(
                "accounts           {} ({} wrong)",
                self.accounts, self.accounts_wrong
            ),
            format!("money total        {}", self.money_total),
            format!(
                "unparseable        {} ({} in {dead_letters}, {} missing, {} extra)",
                self.unparseable,
                self.dead_letters,
                self.dead_letters_missing,
                self.dead_letters_extra
            ),
            format!("R                  {}", ratio(self.r)),
            format!("UR                 {}", ratio(self.ur)),
            format!("exactly once       {}", self.exactly_once()),
        ]
        .join("\n")
    }
}

/// Why a check could not read what it checks.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    /// Reading a topic failed.
    #[error("reading {topic}")]
    Read {
        /// The topic.
        topic: String,
        /// The cause.
        source: exactly_log::ReadError,
    },
    /// Reading a topic from another backend failed.
    #[error("reading {topic}: {reason}")]
    Backend {
        /// The topic.
        topic: String,
        /// What failed.
        reason: String,
    },
    /// A topic does not exist.
    #[error("topic {0:?} does not exist")]
    UnknownTopic(String),
    /// An output, dead-letter or audit record does not decode.
    #[error("{topic} partition {partition} offset {offset} does not decode: {reason}")]
    Decode {
        /// The topic.
        topic: String,
        /// Its partition.
        partition: u32,
        /// The record's offset.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
}

/// Calls `each(partition, record)` for every committed record of `topic`.
pub fn for_each_committed(
    log: &exactly_log::Log,
    topic: &str,
    mut each: impl FnMut(u32, exactly_log::StoredRecord) -> Result<(), CheckError>,
) -> Result<(), CheckError> {
    let partitions = log
        .partition_count(topic)
        .ok_or_else(|| CheckError::UnknownTopic(topic.to_string()))?;
    let read_error = |source| CheckError::Read {
        topic: topic.to_string(),
        source,
    };
    for partition in 0..partitions {
        let from = log
            .partition_info(topic, partition)
            .map_err(read_error)?
            .start_offset;
        // To the last stable offset as of now; past aborted batches and markers (a loop
        // that stopped at the first empty read missed everything after an aborted batch).
        let scan = log
            .scan(
                topic,
                partition,
                from,
                exactly_log::Isolation::ReadCommitted,
            )
            .map_err(read_error)?;
        for record in scan {
            each(partition, record.map_err(read_error)?)?;
        }
    }
    Ok(())
}

/// The input records (partition, offset) of `input` that `dead_letters` holds, with how
/// many copies of each (a missing topic holds none).
pub fn dead_lettered(
    log: &dyn CommittedRecords,
    dead_letters: &str,
    input: &str,
) -> Result<BTreeMap<(u32, u64), u64>, CheckError> {
    let mut found = BTreeMap::new();
    log.for_each_record(dead_letters, &mut |partition, offset, value| {
        let letter: DeadLetter = serde_json::from_slice(value).map_err(|e| CheckError::Decode {
            topic: dead_letters.to_string(),
            partition,
            offset,
            reason: e.to_string(),
        })?;
        if letter.topic == input {
            *found.entry((letter.partition, letter.offset)).or_insert(0) += 1;
        }
        Ok(())
    })?;
    Ok(found)
}

/// Checks the `balances` job: reference balances from `input`, last committed values from
/// `output`, dead letters in `dead_letters`, and (with `audit`) R and UR of the applied
/// debit/credit events.
pub fn check_balances(
    log: &dyn CommittedRecords,
    input: &str,
    output: &str,
    dead_letters: &str,
    audit: Option<&str>,
) -> Result<BalanceCheck, CheckError> {
    let mut check = BalanceCheck::default();
    let mut reference = BTreeMap::<String, i128>::new();
    let mut expected = HashSet::<Lineage>::new();
    let mut bad = BTreeSet::<(u32, u64)>::new();
    let found = log.for_each_record(input, &mut |partition, offset, value| {
        let Ok(halves) = parse_transfer(value) else {
            check.unparseable += 1;
            bad.insert((partition, offset));
            return Ok(());
        };
        check.transfers += 1;
        for (index, (account, amount)) in halves.into_iter().enumerate() {
            *reference.entry(account).or_insert(0) += amount;
            expected.insert(Lineage {
                partition,
                offset,
                index: index as u32,
            });
        }
        Ok(())
    })?;
    if !found {
        return Err(CheckError::UnknownTopic(input.to_string()));
    }
    for (source, copies) in dead_lettered(log, dead_letters, input)? {
        check.dead_letters += copies;
        match bad.remove(&source) {
            true => check.dead_letters_extra += copies - 1,
            false => check.dead_letters_extra += copies,
        }
    }
    check.dead_letters_missing = bad.len() as u64;
    let last = last_values(log, output)?;
    check.accounts = reference.len() as u64;
    check.accounts_wrong = reference
        .iter()
        .filter(|(account, balance)| last.get(*account) != Some(balance))
        .count() as u64;
    check.money_total = last.values().fold(0i128, |sum, v| sum.wrapping_add(*v));
    check.events_expected = expected.len() as u64;
    if let Some(audit) = audit {
        check.audited = true;
        let (applied, unique) = audited_events(log, audit, &expected)?;
        check.events_applied = applied;
        check.events_unique = unique;
        let ratio = |a: u64, b: u64| if b == 0 { 1.0 } else { a as f64 / b as f64 };
        check.r = Some(ratio(check.events_unique, check.events_expected));
        check.ur = Some(ratio(check.events_unique, check.events_applied));
    }
    Ok(check)
}

/// Audit entries of `audit` (applications, duplicates included) and the distinct expected
/// events among them.
fn audited_events(
    log: &dyn CommittedRecords,
    audit: &str,
    expected: &HashSet<Lineage>,
) -> Result<(u64, u64), CheckError> {
    let mut applied = 0;
    let mut seen = HashSet::new();
    log.for_each_record(audit, &mut |partition, offset, value| {
        let lineages = decode_audit(value).map_err(|e| CheckError::Decode {
            topic: audit.to_string(),
            partition,
            offset,
            reason: e.to_string(),
        })?;
        for lineage in lineages {
            applied += 1;
            if expected.contains(&lineage) {
                seen.insert(lineage);
            }
        }
        Ok(())
    })?;
    Ok((applied, seen.len() as u64))
}

#[derive(Deserialize)]
struct KeyValue {
    key: String,
    value: i128,
}

/// The last committed value per key of a `{"key":…,"value":…}` output topic (a key's
/// records all live in one partition, in commit order; a missing topic has none).
pub fn last_values(
    log: &dyn CommittedRecords,
    topic: &str,
) -> Result<BTreeMap<String, i128>, CheckError> {
    let mut values = BTreeMap::new();
    log.for_each_record(topic, &mut |partition, offset, value| {
        let kv: KeyValue = serde_json::from_slice(value).map_err(|e| CheckError::Decode {
            topic: topic.to_string(),
            partition,
            offset,
            reason: e.to_string(),
        })?;
        values.insert(kv.key, kv.value);
        Ok(())
    })?;
    Ok(values)
}
