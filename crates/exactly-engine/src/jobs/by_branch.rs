//! `balances-by-branch`: a two-stage [`Pipeline`]. Stage `accounts` (keyed by account,
//! like `balances`) sends each changed account's delta and balance per checkpoint to its
//! repartition topic, keyed by the account's branch ([`branch_of`]); stage `branches`
//! (keyed by branch) sums the deltas into branch totals. Deltas, not balances, cross the
//! hop so that a duplicated or lost hop record changes a total: the result checks the hop.

use super::parse::parse_transfer_compact;
use super::rejected::Rejected;
use crate::changes::Change;
use crate::compact_key::CompactKey;
use crate::job::{log_topic, Job};
use crate::pipeline::{Pipeline, PipelineError, StageTopics};
use crate::types::{OutputRecord, SourceRecord};
use exactly_state::{SnapshotError, Sum};
use serde::{Deserialize, Serialize};
use std::sync::atomic::Ordering;

/// The pipeline's default name (`exactly run balances-by-branch`).
pub const BALANCES_BY_BRANCH: &str = "balances-by-branch";
/// Branches accounts are spread over unless told otherwise.
pub const BRANCHES_DEFAULT: u32 = 16;

/// The branch of `account` among `branches` (at least 1): `branch-<n>`, `n` (three digits
/// or more) the 64-bit FNV-1a hash of the account's UTF-8 bytes modulo `branches` — a
/// fixed, documented function any checker can recompute.
pub fn branch_of(account: &str, branches: u32) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in account.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("branch-{:03}", hash % u64::from(branches.max(1)))
}

/// One record of the `accounts` stage's repartition topic (record key: the branch).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BranchDelta {
    /// The account's branch.
    pub branch: String,
    /// The account.
    pub account: String,
    /// What the account's balance changed by in the upstream checkpoint.
    pub delta: i128,
    /// The account's balance after it.
    pub balance: i128,
    /// The account's change number (1, 2, …): each must cross the hop exactly once.
    pub sequence: u64,
}

impl OutputRecord for BranchDelta {
    fn record_key(&self) -> Option<Vec<u8>> {
        Some(self.branch.as_bytes().to_vec())
    }
    fn record_value(&self) -> Result<Vec<u8>, SnapshotError> {
        serde_json::to_vec(self).map_err(|e| SnapshotError::Encode(e.to_string()))
    }
}

/// Stage `accounts`: transfers → each changed account's [`BranchDelta`] per checkpoint.
/// The branch count is part of the job's kind, so a restart with another is refused.
pub fn account_deltas(topics: &StageTopics, branches: u32, rejected: Rejected) -> Job {
    Job::new(&format!("account-deltas-{branches}-branches"))
        .source(topics.input.clone())
        .try_flat_map(move |record: SourceRecord| {
            parse_transfer_compact(&record.value).inspect_err(|_| {
                rejected.0.fetch_add(1, Ordering::Relaxed);
            })
        })
        .into_keyed()
        .aggregate_changes(Sum)
        .map(move |change: Change<CompactKey, i128>| BranchDelta {
            branch: branch_of(change.key.as_str(), branches),
            account: change.key.as_str().to_string(),
            delta: change.delta,
            balance: change.total,
            sequence: change.sequence,
        })
        .sink(topics.output.clone())
}

/// Stage `branches`: [`BranchDelta`]s → each branch's total (`{"key":branch,"value":n}`)
/// per checkpoint in which it changed. A record that is not a `BranchDelta` is bad input.
pub fn branch_totals(topics: &StageTopics) -> Job {
    Job::new("branch-totals")
        .source(topics.input.clone())
        .try_flat_map(|record: SourceRecord| {
            let delta: BranchDelta =
                serde_json::from_slice(&record.value).map_err(|e| e.to_string())?;
            Ok([(delta.branch, delta.delta)])
        })
        .into_keyed()
        .aggregate(Sum)
        .sink(topics.output.clone())
}

/// The `balances-by-branch` pipeline named `name`, from transfers in `input` to branch
/// totals in `output`, over `branches` branches; the repartition topic
/// `<name>.accounts.repartition` is created with `repartition_partitions` if missing.
pub fn balances_by_branch(
    name: &str,
    input: &str,
    output: &str,
    branches: u32,
    repartition_partitions: u32,
    rejected: Rejected,
) -> Result<Pipeline, PipelineError> {
    Pipeline::new(name, log_topic(input), log_topic(output))
        .repartition_partitions(repartition_partitions)
        .stage("accounts", move |topics| {
            account_deltas(topics, branches, rejected)
        })
        .stage("branches", branch_totals)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_of_is_fnv1a_modulo_branches() {
        // FNV-1a of "" is the offset basis; of "a" a published test vector.
        assert_eq!(0xcbf2_9ce4_8422_2325u64 % 16, 5);
        assert_eq!(branch_of("", 16), "branch-005");
        assert_eq!(0xaf63_dc4c_8601_ec8cu64 % 1000, 996);
        assert_eq!(branch_of("a", 1000), "branch-996");
        assert_eq!(branch_of("acct-0000001", 1), "branch-000");
    }
}
