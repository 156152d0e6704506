//! Built-in jobs and their input: the bank `balances` job over generated transfers,
//! `wordcount` and `window-count`. The CLI, the demo, the benchmarks and the tests all run
//! these same definitions.

use crate::job::{log_topic, Job};
use crate::operator::PersistentTask;
use crate::runtime::{decode_audit, DeadLetter, Lineage};
use crate::types::SourceRecord;
use exactly_core::Timestamp;
use exactly_state::{Count, LatePolicy, Sum, WindowAssigner};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A money transfer, as `exactly gen transfers` writes it (JSON record value; the record
/// key is the debited account).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    /// Unique transfer id.
    pub id: u64,
    /// Debited account.
    pub from: String,
    /// Credited account.
    pub to: String,
    /// Amount moved (> 0).
    pub amount: i64,
}

/// A transfer as read from the input: account names are borrowed from the record when
/// they hold no JSON escape and owned when they do (`"caf\u00e9"`, `"a\"b"`) — a
/// borrowed `&str` cannot hold an unescaped string, and refusing those would drop valid
/// input.
#[derive(Deserialize)]
struct TransferRef<'a> {
    #[allow(dead_code)]
    id: u64,
    #[serde(borrow)]
    from: Cow<'a, str>,
    #[serde(borrow)]
    to: Cow<'a, str>,
    amount: i64,
}

/// Parses a `balances` input record: the debit and credit it makes, or why it is not a
/// transfer.
pub fn parse_transfer(value: &[u8]) -> Result<[(String, i128); 2], String> {
    let t = serde_json::from_slice::<TransferRef<'_>>(value).map_err(|e| e.to_string())?;
    let amount = i128::from(t.amount);
    Ok([(t.from.into_owned(), -amount), (t.to.into_owned(), amount)])
}

/// The name of account `index`.
pub fn account_name(index: u64) -> String {
    format!("acct-{index:07}")
}

/// First timestamp of generated input (2024-01-01T00:00:00Z); transfer `i` is `i` ms later.
pub const GENERATED_EPOCH_MS: i64 = 1_704_067_200_000;

/// Deterministic transfers: ids `first_id..first_id + count` between `accounts` accounts.
pub fn generate_transfers(seed: u64, first_id: u64, count: u64, accounts: u64) -> Vec<Transfer> {
    let mut rng = SmallRng::seed_from_u64(seed ^ first_id.rotate_left(17));
    let accounts = accounts.max(2);
    (first_id..first_id + count)
        .map(|id| {
            let from = rng.random_range(0..accounts);
            let to = (from + rng.random_range(1..accounts)) % accounts;
            Transfer {
                id,
                from: account_name(from),
                to: account_name(to),
                amount: rng.random_range(1..=1000),
            }
        })
        .collect()
}

/// The log record of transfer `transfer` (timestamp by id).
pub fn transfer_record(transfer: &Transfer) -> Result<exactly_log::Record, serde_json::Error> {
    Ok(exactly_log::Record {
        timestamp: Timestamp(GENERATED_EPOCH_MS + transfer.id as i64),
        key: Some(transfer.from.as_bytes().to_vec()),
        value: serde_json::to_vec(transfer)?,
    })
}

/// Reference balances computed straight from the input (what the job must end with).
pub fn reference_balances<'a>(
    transfers: impl IntoIterator<Item = &'a Transfer>,
) -> std::collections::BTreeMap<String, i128> {
    let mut balances = std::collections::BTreeMap::new();
    for t in transfers {
        *balances.entry(t.from.clone()).or_insert(0) -= i128::from(t.amount);
        *balances.entry(t.to.clone()).or_insert(0) += i128::from(t.amount);
    }
    balances
}

/// Counts input records a built-in job's parse step rejected (each goes to the job's
/// dead-letter topic, or fails the job; none is skipped).
#[derive(Clone, Debug, Default)]
pub struct Rejected(pub Arc<AtomicU64>);

impl Rejected {
    /// Records rejected so far (replays count again).
    pub fn count(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// `balances`: every transfer debits `from` and credits `to`; the output holds each
/// account's new balance per checkpoint in which it changed (`{"key":account,"value":n}`,
/// `n` exact: sums are `i128`). Records that are not transfers are bad input.
pub fn balances(input: &str, output: &str, rejected: Rejected) -> Job {
    Job::new("balances")
        .source(log_topic(input))
        .try_flat_map(move |record: SourceRecord| {
            parse_transfer(&record.value).inspect_err(|_| {
                rejected.0.fetch_add(1, Ordering::Relaxed);
            })
        })
        .into_keyed()
        .aggregate(Sum)
        .sink(log_topic(output))
}

/// Counts words: the classic per-key `CountProcessor` as a [`PersistentTask`].
#[derive(Clone, Debug, Default)]
pub struct CountProcessor;

impl PersistentTask for CountProcessor {
    type Key = String;
    type In = String;
    type State = u64;
    type Out = (String, u64);

    fn process(
        &mut self,
        key: &String,
        _: String,
        _: Timestamp,
        count: &mut u64,
        out: &mut Vec<(String, u64)>,
    ) {
        *count += 1;
        out.push((key.clone(), *count));
    }
}

/// `wordcount`: splits each record's value on whitespace and counts every word with
/// [`CountProcessor`] (one output per word occurrence: the running count). A value that is
/// not UTF-8 is bad input (dead-lettered), not counted with replacement characters.
pub fn wordcount(input: &str, output: &str) -> Job {
    Job::new("wordcount")
        .source(log_topic(input))
        .try_flat_map(|record: SourceRecord| {
            let text = std::str::from_utf8(&record.value)
                .map_err(|e| format!("the value is not UTF-8: {e}"))?;
            Ok(text
                .split_whitespace()
                .map(str::to_lowercase)
                .collect::<Vec<_>>())
        })
        .key_by(|word| word.clone())
        .process(CountProcessor)
        .sink(log_topic(output))
}

/// `window-count`: counts records per record key per tumbling event-time window of
/// `window_ms`; a window is written once, when the clock passes its end. A keyless record
/// counts under the empty key; a key that is not UTF-8 is bad input (dead-lettered).
pub fn window_count(input: &str, output: &str, window_ms: i64) -> Job {
    Job::new("window-count")
        .source(log_topic(input))
        .try_flat_map(|record: SourceRecord| {
            let key = std::str::from_utf8(record.key.as_deref().unwrap_or(b""))
                .map_err(|e| format!("the key is not UTF-8: {e}"))?;
            Ok([(key.to_string(), 1u64)])
        })
        .key_by(|(key, _)| key.clone())
        .window_aggregate(
            Count,
            WindowAssigner::Tumbling { size_ms: window_ms },
            LatePolicy::Drop,
        )
        .sink(log_topic(output))
}

/// Deterministic lines of words for `wordcount` (a Zipf-ish vocabulary of `vocabulary`).
pub fn generate_lines(seed: u64, count: u64, vocabulary: u64) -> Vec<String> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let vocabulary = vocabulary.max(1);
    (0..count)
        .map(|_| {
            let words = rng.random_range(1..=8);
            (0..words)
                .map(|_| {
                    let rank = rng.random_range(0..vocabulary);
                    let skewed = rank * rank / vocabulary;
                    format!("w{skewed}")
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
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
    log: &exactly_log::Log,
    dead_letters: &str,
    input: &str,
) -> Result<std::collections::BTreeMap<(u32, u64), u64>, CheckError> {
    let mut found = std::collections::BTreeMap::new();
    if log.partition_count(dead_letters).is_none() {
        return Ok(found);
    }
    for_each_committed(log, dead_letters, |partition, record| {
        let letter: DeadLetter =
            serde_json::from_slice(&record.value).map_err(|e| CheckError::Decode {
                topic: dead_letters.to_string(),
                partition,
                offset: record.offset.0,
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
    log: &exactly_log::Log,
    input: &str,
    output: &str,
    dead_letters: &str,
    audit: Option<&str>,
) -> Result<BalanceCheck, CheckError> {
    let mut check = BalanceCheck::default();
    let mut reference = std::collections::BTreeMap::<String, i128>::new();
    let mut expected = std::collections::HashSet::<Lineage>::new();
    let mut bad = std::collections::BTreeSet::<(u32, u64)>::new();
    for_each_committed(log, input, |partition, record| {
        let Ok(halves) = parse_transfer(&record.value) else {
            check.unparseable += 1;
            bad.insert((partition, record.offset.0));
            return Ok(());
        };
        check.transfers += 1;
        for (index, (account, amount)) in halves.into_iter().enumerate() {
            *reference.entry(account).or_insert(0) += amount;
            expected.insert(Lineage {
                partition,
                offset: record.offset.0,
                index: index as u32,
            });
        }
        Ok(())
    })?;
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
        let mut seen = std::collections::HashSet::new();
        for_each_committed(log, audit, |partition, record| {
            let lineages = decode_audit(&record.value).map_err(|e| CheckError::Decode {
                topic: audit.to_string(),
                partition,
                offset: record.offset.0,
                reason: e.to_string(),
            })?;
            for lineage in lineages {
                check.events_applied += 1;
                if expected.contains(&lineage) {
                    seen.insert(lineage);
                }
            }
            Ok(())
        })?;
        check.events_unique = seen.len() as u64;
        let ratio = |a: u64, b: u64| if b == 0 { 1.0 } else { a as f64 / b as f64 };
        check.r = Some(ratio(check.events_unique, check.events_expected));
        check.ur = Some(ratio(check.events_unique, check.events_applied));
    }
    Ok(check)
}

#[derive(Deserialize)]
struct KeyValue {
    key: String,
    value: i128,
}

/// The last committed value per key of a `{"key":…,"value":…}` output topic (a key's
/// records all live in one partition, in commit order).
pub fn last_values(
    log: &exactly_log::Log,
    topic: &str,
) -> Result<std::collections::BTreeMap<String, i128>, CheckError> {
    let mut values = std::collections::BTreeMap::new();
    if log.partition_count(topic).is_none() {
        return Ok(values);
    }
    for_each_committed(log, topic, |partition, record| {
        let kv: KeyValue =
            serde_json::from_slice(&record.value).map_err(|e| CheckError::Decode {
                topic: topic.to_string(),
                partition,
                offset: record.offset.0,
                reason: e.to_string(),
            })?;
        values.insert(kv.key, kv.value);
        Ok(())
    })?;
    Ok(values)
}
