//! What a worker runs: [`DistributedJob`] (a job's stages as engine jobs), [`JobKinds`]
//! (which kinds a worker binary knows), and the built-in kinds [`BuiltInJobs`].
//!
//! A library user with jobs of their own implements [`JobKinds`] and runs a worker with
//! it ([`crate::Worker::run`]); `exactly worker` knows the built-in ones.

use crate::spec::{JobSpec, SpecError};
use exactly_engine::jobs::{branch_of, parse_transfer_compact, BranchDelta, Rejected};
use exactly_engine::{log_topic, Change, Job, SourceRecord, StageTopics};
use exactly_state::Sum;
use serde::Deserialize;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// A distributed job: a chain of stages, each an ordinary engine [`Job`].
pub trait DistributedJob: Send + Sync {
    /// Stage names, upstream first (at least two; `[a-z0-9-]`).
    fn stages(&self) -> Vec<String>;

    /// The engine job of stage `stage`, reading `topics.input` and writing
    /// `topics.output`. The worker names it after the task and runs one per task; the
    /// last stage's outputs must be keyed by its input's key.
    fn stage_job(&self, stage: usize, topics: &StageTopics) -> Job;
}

/// The kinds of job a worker can run.
pub trait JobKinds: Send + Sync {
    /// The job `spec` describes, or why there is none.
    fn build(&self, spec: &JobSpec) -> Result<Arc<dyn DistributedJob>, SpecError>;
}

/// The built-in kinds: `balances-by-branch` (transfers → per-account deltas → per-branch
/// totals, param `branches`, default 16) and `balances` (transfers → per-account
/// balances).
#[derive(Clone, Copy, Debug, Default)]
pub struct BuiltInJobs;

/// Kind names [`BuiltInJobs`] knows.
pub const BUILT_IN_KINDS: [&str; 2] = ["balances-by-branch", "balances"];

impl JobKinds for BuiltInJobs {
    fn build(&self, spec: &JobSpec) -> Result<Arc<dyn DistributedJob>, SpecError> {
        match spec.kind.as_str() {
            "balances-by-branch" => {
                let branches: u32 = spec.param("branches", 16)?;
                if branches == 0 {
                    return Err(SpecError::BadParam {
                        kind: spec.kind.clone(),
                        param: "branches".into(),
                        reason: "must be at least 1".into(),
                    });
                }
                Ok(Arc::new(BalancesByBranch {
                    branches,
                    rejected: Rejected::default(),
                }))
            }
            "balances" => Ok(Arc::new(Balances {
                rejected: Rejected::default(),
            })),
            other => Err(SpecError::UnknownKind(
                other.to_string(),
                BUILT_IN_KINDS.join(", "),
            )),
        }
    }
}

/// Stage `route` of both built-in kinds: each transfer → `(from, −amount)` and
/// `(to, +amount)`, keyed by account (`{"key":account,"value":amount}`). It audits what
/// it applied to `<output>.audit` (each input record's lineage, with its outputs' own
/// checkpoint), so an auditor can count every transfer's application — R and UR.
fn route_transfers(topics: &StageTopics, rejected: Rejected) -> Job {
    Job::new("route-transfers")
        .source(topics.input.clone())
        .try_flat_map(move |record: SourceRecord| {
            parse_transfer_compact(&record.value).inspect_err(|_| {
                rejected.0.fetch_add(1, Ordering::Relaxed);
            })
        })
        .sink(topics.output.clone())
        .audit(log_topic(&format!("{}.audit", topics.output.name)))
}

/// A routed `{"key":account,"value":amount}` record.
#[derive(Deserialize)]
struct Routed {
    key: String,
    value: i128,
}

fn parse_routed(value: &[u8]) -> Result<[(String, i128); 1], String> {
    let routed: Routed = serde_json::from_slice(value).map_err(|e| e.to_string())?;
    Ok([(routed.key, routed.value)])
}

struct BalancesByBranch {
    branches: u32,
    rejected: Rejected,
}

impl DistributedJob for BalancesByBranch {
    fn stages(&self) -> Vec<String> {
        ["route", "accounts", "branches"].map(String::from).to_vec()
    }

    fn stage_job(&self, stage: usize, topics: &StageTopics) -> Job {
        let branches = self.branches;
        match stage {
            0 => route_transfers(topics, self.rejected.clone()),
            // Deltas, not balances, cross to the next stage, so a lost or doubled hop
            // record changes a branch total: the result checks every hop.
            1 => Job::new(&format!("account-deltas-{branches}-branches"))
                .source(topics.input.clone())
                .try_flat_map(|record: SourceRecord| parse_routed(&record.value))
                .into_keyed()
                .aggregate_changes(Sum)
                .map(move |change: Change<String, i128>| BranchDelta {
                    branch: branch_of(&change.key, branches),
                    account: change.key,
                    delta: change.delta,
                    balance: change.total,
                    sequence: change.sequence,
                })
                .sink(topics.output.clone()),
            _ => exactly_engine::jobs::branch_totals(topics),
        }
    }
}

struct Balances {
    rejected: Rejected,
}

impl DistributedJob for Balances {
    fn stages(&self) -> Vec<String> {
        ["route", "accounts"].map(String::from).to_vec()
    }

    fn stage_job(&self, stage: usize, topics: &StageTopics) -> Job {
        match stage {
            0 => route_transfers(topics, self.rejected.clone()),
            _ => Job::new("account-balances")
                .source(topics.input.clone())
                .try_flat_map(|record: SourceRecord| parse_routed(&record.value))
                .into_keyed()
                .aggregate(Sum)
                .sink(topics.output.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn built_in_kinds_build_and_unknown_ones_are_refused() {
        let mut spec = JobSpec {
            name: "bank".into(),
            kind: "balances-by-branch".into(),
            input: "transfers".into(),
            output: "totals".into(),
            source_partitions: 2,
            key_groups: 2,
            checkpoint_interval_ms: 1000,
            params: BTreeMap::new(),
        };
        let job = BuiltInJobs.build(&spec).expect("built in");
        assert_eq!(job.stages(), ["route", "accounts", "branches"]);
        spec.params.insert("branches".into(), "0".into());
        assert!(BuiltInJobs.build(&spec).is_err());
        spec.kind = "nope".into();
        assert!(matches!(
            BuiltInJobs.build(&spec),
            Err(SpecError::UnknownKind(..))
        ));
    }

    #[test]
    fn routed_records_parse_back_to_account_and_amount() {
        let value = br#"{"key":"a","value":-5}"#;
        assert_eq!(parse_routed(value), Ok([("a".to_string(), -5)]));
        assert!(parse_routed(b"{}").is_err());
    }
}
