//! [`JobSpec`]: what `exactly job submit` stores — a distributed job's kind, topics and
//! shape — and its validation.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The most key groups a job may have (each is a task per keyed stage, with a stream per
/// upstream writer: 256² streams per hop is already far beyond what a test cluster holds).
pub const KEY_GROUPS_MAX: u32 = 256;
/// Key groups of a job submitted without `--key-groups`.
pub const KEY_GROUPS_DEFAULT: u32 = 4;
/// Checkpoint interval of a job submitted without one.
pub const CHECKPOINT_INTERVAL_MS_DEFAULT: u64 = 1_000;
/// The longest distributed job name: its tasks' engine jobs are named
/// `<job>_<stage>_<unit>`, which must stay within the engine's 100 characters.
pub const JOB_NAME_LEN_MAX: usize = 60;

/// A distributed job as submitted (stored as JSON in the job catalog).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSpec {
    /// The job's name: `[A-Za-z0-9-]`, 1..=[`JOB_NAME_LEN_MAX`] characters.
    pub name: String,
    /// Which job (a kind the workers know, e.g. `balances-by-branch`).
    pub kind: String,
    /// The input topic (on the data log, NATS JetStream).
    pub input: String,
    /// The output topic; created with `key_groups` partitions.
    pub output: String,
    /// Partitions of the input topic (read at submit time; the first stage has a task
    /// per input partition).
    pub source_partitions: u32,
    /// Key groups: every later stage has a task per key group, and every topic between
    /// stages (and the output) has this many partitions. Fixed for the job's life.
    pub key_groups: u32,
    /// Time between a task's checkpoints.
    pub checkpoint_interval_ms: u64,
    /// Settings of the kind (e.g. `branches`), as text.
    pub params: BTreeMap<String, String>,
}

/// Why a job specification is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// The job's name is not usable.
    #[error("job name {name:?}: {reason}")]
    BadName {
        /// The name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A number is out of its range.
    #[error("{what} is {value}; it must be {range}")]
    OutOfRange {
        /// Which setting.
        what: &'static str,
        /// Its value.
        value: u64,
        /// The allowed range.
        range: String,
    },
    /// No worker knows this kind of job.
    #[error("unknown job kind {0:?} (known: {1})")]
    UnknownKind(String, String),
    /// A setting of the kind is missing or does not parse.
    #[error("job kind {kind}: parameter {param}: {reason}")]
    BadParam {
        /// The kind.
        kind: String,
        /// The parameter.
        param: String,
        /// What is wrong.
        reason: String,
    },
    /// The job's stages cannot be laid out as tasks.
    #[error("job kind {kind}: {reason}")]
    BadStages {
        /// The kind.
        kind: String,
        /// What is wrong.
        reason: String,
    },
}

impl JobSpec {
    /// Checks the name and the numbers (the kind is checked by whoever builds it).
    pub fn validate(&self) -> Result<(), SpecError> {
        validate_name(&self.name)?;
        check_range(
            "key groups",
            self.key_groups.into(),
            1,
            KEY_GROUPS_MAX.into(),
        )?;
        check_range(
            "source partitions",
            self.source_partitions.into(),
            1,
            KEY_GROUPS_MAX.into(),
        )?;
        check_range(
            "checkpoint interval (ms)",
            self.checkpoint_interval_ms,
            10,
            3_600_000,
        )
    }

    /// The parameter `param` parsed, or `default` when absent.
    pub fn param<T: std::str::FromStr>(&self, param: &str, default: T) -> Result<T, SpecError>
    where
        T::Err: std::fmt::Display,
    {
        match self.params.get(param) {
            None => Ok(default),
            Some(text) => text.parse().map_err(|e: T::Err| SpecError::BadParam {
                kind: self.kind.clone(),
                param: param.to_string(),
                reason: format!("{text:?}: {e}"),
            }),
        }
    }
}

/// Job names are `[A-Za-z0-9-]`: no `_` (it separates the name from the stage and unit in
/// task names), no `.` (it separates topic name parts).
fn validate_name(name: &str) -> Result<(), SpecError> {
    let bad = |reason: &str| SpecError::BadName {
        name: name.to_string(),
        reason: reason.to_string(),
    };
    if name.is_empty() || name.len() > JOB_NAME_LEN_MAX {
        return Err(bad(&format!("1..={JOB_NAME_LEN_MAX} characters")));
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(bad("only letters, digits and '-'"));
    }
    Ok(())
}

fn check_range(what: &'static str, value: u64, min: u64, max: u64) -> Result<(), SpecError> {
    if (min..=max).contains(&value) {
        return Ok(());
    }
    Err(SpecError::OutOfRange {
        what,
        value,
        range: format!("{min}..={max}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str) -> JobSpec {
        JobSpec {
            name: name.into(),
            kind: "balances-by-branch".into(),
            input: "transfers".into(),
            output: "totals".into(),
            source_partitions: 4,
            key_groups: 4,
            checkpoint_interval_ms: 1000,
            params: BTreeMap::new(),
        }
    }

    #[test]
    fn names_numbers_and_params_are_checked() {
        assert!(spec("bank-1").validate().is_ok());
        assert!(spec("bank_1").validate().is_err());
        assert!(spec("").validate().is_err());
        assert!(spec(&"x".repeat(61)).validate().is_err());
        let mut wide = spec("bank");
        wide.key_groups = 257;
        assert!(matches!(wide.validate(), Err(SpecError::OutOfRange { .. })));
        let mut with = spec("bank");
        with.params.insert("branches".into(), "x".into());
        assert!(with.param("branches", 16u32).is_err());
        assert_eq!(spec("bank").param("branches", 16u32), Ok(16));
    }
}
