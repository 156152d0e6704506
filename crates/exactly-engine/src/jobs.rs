//! Built-in jobs and their input: the bank `balances` job over generated transfers,
//! `wordcount` and `window-count`, and the two-stage pipeline `balances-by-branch`. The
//! CLI, the demo, the benchmarks and the tests all run these same definitions. [`check_balances`] checks the balances job's output against
//! its input ([`BalanceCheck`]); [`run_summary`] is the summary of a run as `exactly run`
//! prints it.

use crate::job::{log_topic, Job};
use crate::operator::PersistentTask;
use crate::types::SourceRecord;
use exactly_core::Timestamp;
use exactly_state::{Count, LatePolicy, Sum, WindowAssigner};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

mod by_branch;
mod check;
mod parse;
mod rejected;
mod summary;
pub use by_branch::{
    account_deltas, balances_by_branch, branch_of, branch_totals, BranchDelta, BALANCES_BY_BRANCH,
    BRANCHES_DEFAULT,
};
pub use check::{
    check_balances, dead_lettered, for_each_committed, last_values, BalanceCheck, CheckError,
    CommittedRecords, EachRecord,
};
pub use parse::{parse_transfer, parse_transfer_compact};
pub use rejected::Rejected;
pub use summary::run_summary;

/// The key a keyless record counts under in `window-count`.
const KEYLESS: &str = "";
use std::sync::atomic::Ordering;

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

/// `balances`: every transfer debits `from` and credits `to`; the output holds each
/// account's new balance per checkpoint in which it changed (`{"key":account,"value":n}`,
/// `n` exact: sums are `i128`). Records that are not transfers are bad input.
pub fn balances(input: &str, output: &str, rejected: Rejected) -> Job {
    Job::new("balances")
        .source(log_topic(input))
        .try_flat_map(move |record: SourceRecord| {
            parse_transfer_compact(&record.value).inspect_err(|_| {
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
            let key = match record.key.as_deref() {
                Some(key) => {
                    std::str::from_utf8(key).map_err(|e| format!("the key is not UTF-8: {e}"))?
                }
                None => KEYLESS,
            };
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
