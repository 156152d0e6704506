//! An independent oracle for the `run balances-by-branch` tests: it opens the log
//! in-process after the pipeline stopped, reads it with a plain read-committed loop
//! (`run_oracle::read_all`), computes every account's balance from the input by hand,
//! each branch with its own FNV-1a (the documented branch function, written again here:
//! not the job's code), and checks
//! - the output: every branch's last total equals the sum of its accounts' balances;
//! - the hop (the repartition topic, which only committed transactions reach): per
//!   account, change sequences 1..=n each exactly once, every balance the previous one
//!   plus the delta, the deltas summing to the account's balance, each record keyed and
//!   labelled by the account's branch — so a duplicated, lost or reordered hop record, or
//!   a stage-1 state that disagrees with what stage 2 summed, fails.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::run_oracle::read_all;
use exactly_log::{Log, LogConfig};
use std::collections::BTreeMap;
use std::path::Path;

/// The pipeline's repartition topic under its default name.
pub const REPARTITION: &str = "balances-by-branch.accounts.repartition";

/// `branch-<n:03>`, n = FNV-1a-64(account) mod branches.
pub fn branch(account: &str, branches: u64) -> String {
    let mut hash: u64 = 14_695_981_039_346_656_037;
    for byte in account.as_bytes() {
        hash = (hash ^ u64::from(*byte)).wrapping_mul(1_099_511_628_211);
    }
    format!("branch-{:03}", hash % branches)
}

/// Balances computed from every transfer in `input`.
fn reference_balances(log: &Log, input: &str) -> BTreeMap<String, i128> {
    let mut balances = BTreeMap::new();
    for (_, record) in read_all(log, input) {
        let v: serde_json::Value = serde_json::from_slice(&record.value).unwrap();
        let amount = i128::from(v["amount"].as_i64().unwrap());
        *balances
            .entry(v["from"].as_str().unwrap().to_string())
            .or_insert(0) -= amount;
        *balances
            .entry(v["to"].as_str().unwrap().to_string())
            .or_insert(0) += amount;
    }
    balances
}

/// One account's changes as read from the hop, by sequence.
type Changes = BTreeMap<u64, Vec<(i128, i128)>>;

/// What the oracle found; `assert_exact` fails with it.
#[derive(Debug, Default)]
pub struct BranchCheck {
    pub accounts: usize,
    pub branches: usize,
    pub hop_records: usize,
    pub transfers_total: usize,
    /// Manifests each stage wrote over its life (its journal's entries).
    pub checkpoints_accounts: usize,
    pub checkpoints_branches: usize,
}

/// Asserts the output and the hop of the pipeline in `dir` (see the module).
pub fn assert_exact(dir: &Path, input: &str, output: &str, branches: u64) -> BranchCheck {
    let log = Log::open(dir, LogConfig::default()).unwrap();
    let balances = reference_balances(&log, input);
    let mut expected: BTreeMap<String, i128> = BTreeMap::new();
    for (account, balance) in &balances {
        *expected.entry(branch(account, branches)).or_insert(0) += balance;
    }
    let mut last: BTreeMap<String, i128> = BTreeMap::new();
    for (_, record) in read_all(&log, output) {
        let v: serde_json::Value = serde_json::from_slice(&record.value).unwrap();
        let total: i128 = v["value"].to_string().parse().unwrap();
        last.insert(v["key"].as_str().unwrap().to_string(), total);
    }
    assert_eq!(last, expected, "branch totals differ from the input's");
    let hop_records = assert_hop_exactly_once(&log, &balances, branches);
    BranchCheck {
        accounts: balances.len(),
        branches: expected.len(),
        hop_records,
        transfers_total: read_all(&log, input).len(),
        checkpoints_accounts: read_all(&log, "exactly.job.balances-by-branch_accounts").len(),
        checkpoints_branches: read_all(&log, "exactly.job.balances-by-branch_branches").len(),
    }
}

/// The hop's checks (see the module); returns its records.
fn assert_hop_exactly_once(log: &Log, balances: &BTreeMap<String, i128>, branches: u64) -> usize {
    let mut changes: BTreeMap<String, Changes> = BTreeMap::new();
    let records = read_all(log, REPARTITION);
    for (_, record) in &records {
        let v: serde_json::Value = serde_json::from_slice(&record.value).unwrap();
        let account = v["account"].as_str().unwrap().to_string();
        let expected_branch = branch(&account, branches);
        assert_eq!(v["branch"].as_str(), Some(expected_branch.as_str()), "{v}");
        assert_eq!(
            record.key.as_deref(),
            Some(expected_branch.as_bytes()),
            "{v}"
        );
        let delta: i128 = v["delta"].to_string().parse().unwrap();
        let balance: i128 = v["balance"].to_string().parse().unwrap();
        let sequence = v["sequence"].as_u64().unwrap();
        changes
            .entry(account)
            .or_default()
            .entry(sequence)
            .or_default()
            .push((delta, balance));
    }
    let accounts: Vec<&String> = balances.keys().collect();
    assert_eq!(
        changes.keys().collect::<Vec<_>>(),
        accounts,
        "accounts on the hop"
    );
    for (account, by_sequence) in &changes {
        let mut previous = 0i128;
        for (expected_sequence, (sequence, seen)) in (1u64..).zip(by_sequence) {
            assert_eq!(
                *sequence, expected_sequence,
                "{account}: a change is missing"
            );
            assert_eq!(
                seen.len(),
                1,
                "{account}: change {sequence} crossed {seen:?}"
            );
            let (delta, balance) = seen[0];
            assert_eq!(previous + delta, balance, "{account}: change {sequence}");
            previous = balance;
        }
        assert_eq!(
            previous, balances[account],
            "{account}: last balance on the hop"
        );
    }
    records.len()
}
