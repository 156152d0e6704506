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
        .key_by(|(account, _)| account.clone())
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
