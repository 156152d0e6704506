//! Built-in jobs and their input: the bank `balances` job over generated transfers,
//! `wordcount` and `window-count`. The CLI, the demo, the benchmarks and the tests all run
//! these same definitions.

use crate::job::{log_topic, Job, SourceRecord};
use crate::operator::PersistentTask;
use exactly_core::Timestamp;
use exactly_state::{Count, LatePolicy, Sum, WindowAssigner};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
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

#[derive(Deserialize)]
struct TransferRef<'a> {
    #[allow(dead_code)]
    id: u64,
    #[serde(borrow)]
    from: &'a str,
    #[serde(borrow)]
    to: &'a str,
    amount: i64,
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
pub fn transfer_record(transfer: &Transfer) -> exactly_log::Record {
    exactly_log::Record {
        timestamp: Timestamp(GENERATED_EPOCH_MS + transfer.id as i64),
        key: Some(transfer.from.as_bytes().to_vec()),
        value: serde_json::to_vec(transfer).unwrap_or_default(),
    }
}

/// Reference balances computed straight from the input (what the job must end with).
pub fn reference_balances<'a>(
    transfers: impl IntoIterator<Item = &'a Transfer>,
) -> std::collections::BTreeMap<String, i64> {
    let mut balances = std::collections::BTreeMap::new();
    for t in transfers {
        *balances.entry(t.from.clone()).or_insert(0) -= t.amount;
        *balances.entry(t.to.clone()).or_insert(0) += t.amount;
    }
    balances
}

/// Counts input records a built-in job could not parse (they are skipped, not fatal).
#[derive(Clone, Debug, Default)]
pub struct Rejected(pub Arc<AtomicU64>);

impl Rejected {
    /// Records skipped so far (replays count again).
    pub fn count(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// `balances`: every transfer debits `from` and credits `to`; the output holds each
/// account's new balance per checkpoint in which it changed (`{"key":account,"value":n}`).
pub fn balances(input: &str, output: &str, rejected: Rejected) -> Job {
    Job::new("balances")
        .source(log_topic(input))
        .flat_map(move |record: SourceRecord| {
            match serde_json::from_slice::<TransferRef<'_>>(&record.value) {
                Ok(t) => vec![
                    (t.from.to_string(), -t.amount),
                    (t.to.to_string(), t.amount),
                ],
                Err(_) => {
                    rejected.0.fetch_add(1, Ordering::Relaxed);
                    Vec::new()
                }
            }
        })
        .into_keyed()
        .aggregate(Sum)
        .sink(log_topic(output))
}

/// Counts words: the seed's `CountProcessor` as a [`PersistentTask`].
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
/// [`CountProcessor`] (one output per word occurrence: the running count).
pub fn wordcount(input: &str, output: &str) -> Job {
    Job::new("wordcount")
        .source(log_topic(input))
        .flat_map(|record: SourceRecord| {
            String::from_utf8_lossy(&record.value)
                .split_whitespace()
                .map(str::to_lowercase)
                .collect::<Vec<_>>()
        })
        .key_by(|word| word.clone())
        .process(CountProcessor)
        .sink(log_topic(output))
}

/// `window-count`: counts records per record key per tumbling event-time window of
/// `window_ms`; a window is written once, when the clock passes its end.
pub fn window_count(input: &str, output: &str, window_ms: i64) -> Job {
    Job::new("window-count")
        .source(log_topic(input))
        .map(|record: SourceRecord| {
            let key = String::from_utf8_lossy(record.key.as_deref().unwrap_or(b"")).into_owned();
            (key, 1u64)
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
/// its input, and R/UR of the applied transfers from the audit.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct BalanceCheck {
    /// Transfers in the input.
    pub transfers: u64,
    /// Input records that do not parse as transfers.
    pub unparseable: u64,
    /// Accounts in the reference.
    pub accounts: u64,
    /// Accounts whose last committed output differs from the reference (or is missing).
    pub accounts_wrong: u64,
    /// Sum over all last balances (0 when money is conserved).
    pub money_total: i64,
    /// Debit and credit events expected (two per transfer).
    pub events_expected: u64,
    /// Audit entries (applications, duplicates included).
    pub events_applied: u64,
    /// Distinct expected events applied at least once.
    pub events_unique: u64,
    /// Reliability: unique applied / expected.
    pub r: f64,
    /// Uniqueness: unique applied / applied.
    pub ur: f64,
    /// Whether an audit topic was read (R and UR are meaningful only then).
    pub audited: bool,
}

impl BalanceCheck {
    /// Every balance right, money conserved, and (if audited) R = UR = 1.
    pub fn exactly_once(&self) -> bool {
        let audit_ok = !self.audited
            || (self.events_unique == self.events_expected
                && self.events_applied == self.events_expected);
        self.accounts_wrong == 0 && self.money_total == 0 && audit_ok
    }
}

/// Why a check could not read what it checks.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    /// Reading a topic failed.
    #[error("reading {topic}: {source}")]
    Read {
        /// The topic.
        topic: String,
        /// The cause.
        source: exactly_log::ReadError,
    },
    /// A topic does not exist.
    #[error("topic {0:?} does not exist")]
    UnknownTopic(String),
    /// An output or audit record does not decode.
    #[error("{topic} holds a record that does not decode: {reason}")]
    Decode {
        /// The topic.
        topic: String,
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
        let mut from = log
            .partition_info(topic, partition)
            .map_err(read_error)?
            .start_offset;
        loop {
            let batch = log
                .read_with(
                    topic,
                    partition,
                    from,
                    65_536,
                    exactly_log::Isolation::ReadCommitted,
                )
                .map_err(read_error)?;
            if batch.records.is_empty() {
                break;
            }
            from = batch.next_offset;
            for record in batch.records {
                each(partition, record)?;
            }
        }
    }
    Ok(())
}

/// Checks the `balances` job: reference balances from `input`, last committed values from
/// `output`, and (with `audit`) R and UR of the applied debit/credit events.
pub fn check_balances(
    log: &exactly_log::Log,
    input: &str,
    output: &str,
    audit: Option<&str>,
) -> Result<BalanceCheck, CheckError> {
    let mut check = BalanceCheck::default();
    let mut reference = std::collections::BTreeMap::<String, i64>::new();
    let mut expected = std::collections::HashSet::<crate::Lineage>::new();
    for_each_committed(log, input, |partition, record| {
        let Ok(t) = serde_json::from_slice::<Transfer>(&record.value) else {
            check.unparseable += 1;
            return Ok(());
        };
        check.transfers += 1;
        *reference.entry(t.from).or_insert(0) -= t.amount;
        *reference.entry(t.to).or_insert(0) += t.amount;
        for index in 0..2 {
            expected.insert(crate::Lineage {
                partition,
                offset: record.offset.0,
                index,
            });
        }
        Ok(())
    })?;
    let last = last_values(log, output)?;
    check.accounts = reference.len() as u64;
    check.accounts_wrong = reference
        .iter()
        .filter(|(account, balance)| last.get(*account) != Some(balance))
        .count() as u64;
    check.money_total = last.values().fold(0i64, |sum, v| sum.saturating_add(*v));
    check.events_expected = expected.len() as u64;
    if let Some(audit) = audit {
        check.audited = true;
        let mut seen = std::collections::HashSet::new();
        for_each_committed(log, audit, |_, record| {
            let lineages = crate::decode_audit(&record.value).map_err(|e| CheckError::Decode {
                topic: audit.to_string(),
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
    }
    let ratio = |a: u64, b: u64| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    check.r = ratio(check.events_unique, check.events_expected);
    check.ur = ratio(check.events_unique, check.events_applied);
    Ok(check)
}

#[derive(Deserialize)]
struct KeyValue {
    key: String,
    value: i64,
}

/// The last committed value per key of a `{"key":…,"value":…}` output topic (a key's
/// records all live in one partition, in commit order).
pub fn last_values(
    log: &exactly_log::Log,
    topic: &str,
) -> Result<std::collections::BTreeMap<String, i64>, CheckError> {
    let mut values = std::collections::BTreeMap::new();
    if log.partition_count(topic).is_none() {
        return Ok(values);
    }
    for_each_committed(log, topic, |_, record| {
        let kv: KeyValue =
            serde_json::from_slice(&record.value).map_err(|e| CheckError::Decode {
                topic: topic.to_string(),
                reason: e.to_string(),
            })?;
        values.insert(kv.key, kv.value);
        Ok(())
    })?;
    Ok(values)
}
