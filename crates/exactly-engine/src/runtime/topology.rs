//! A job's topology: what it reads, what it writes and how. Recorded in every manifest and
//! every journal entry; a restart whose topology differs is refused
//! (`RunError::TopologyChanged`), since resuming would
//! mix two jobs' state and outputs.
//!
//! Fixed for a job's life: its kind, input, output, audit and dead-letter topics, guarantee
//! and key groups. Allowed to change across restarts: parallelism (state is per key group),
//! sink mode (sequences are carried in every manifest), checkpoint interval, `follow`, and
//! the bad-input policy (it applies to records not yet consumed).

use crate::spec::JobSpec;
use crate::types::Guarantee;
use serde::{Deserialize, Serialize};

/// What a job reads and writes and how, as recorded in its manifests and journal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topology {
    /// What the job computes (`balances`, …).
    pub kind: String,
    /// Input topic.
    pub input: String,
    /// Output topic.
    pub output: String,
    /// Audit topic, if any.
    pub audit: Option<String>,
    /// Dead-letter topic.
    pub dead_letters: String,
    /// Delivery guarantee.
    pub guarantee: Guarantee,
    /// Key groups.
    pub key_groups: u32,
}

impl Topology {
    /// The topology of `job` run with `guarantee`.
    pub(crate) fn of(job: &JobSpec, guarantee: Guarantee) -> Self {
        Self {
            kind: job.kind.clone(),
            input: job.source.clone(),
            output: job.sink.clone(),
            audit: job.audit.clone(),
            dead_letters: job.dead_letter_topic(),
            guarantee,
            key_groups: job.key_groups,
        }
    }

    /// What differs from `recorded`, as `field: recorded → now` items; empty if nothing.
    pub fn differences(&self, recorded: &Topology) -> Vec<String> {
        let mut out = Vec::new();
        let mut field = |name: &str, was: String, now: String| {
            if was != now {
                out.push(format!("{name} was {was} and is now {now}"));
            }
        };
        let topic =
            |t: &Option<String>| t.as_ref().map_or("none".to_string(), |t| format!("{t:?}"));
        field(
            "kind",
            format!("{:?}", recorded.kind),
            format!("{:?}", self.kind),
        );
        field(
            "input",
            format!("{:?}", recorded.input),
            format!("{:?}", self.input),
        );
        field(
            "output",
            format!("{:?}", recorded.output),
            format!("{:?}", self.output),
        );
        field("audit", topic(&recorded.audit), topic(&self.audit));
        field(
            "dead-letter topic",
            format!("{:?}", recorded.dead_letters),
            format!("{:?}", self.dead_letters),
        );
        field(
            "guarantee",
            recorded.guarantee.as_str().to_string(),
            self.guarantee.as_str().to_string(),
        );
        field(
            "key groups",
            recorded.key_groups.to_string(),
            self.key_groups.to_string(),
        );
        out
    }
}
