//! [`JobSpec`]: what a job reads and writes and what it is called — everything about a job
//! but its code. The runtime, recovery and the manifest work on this; only the builder and
//! the driver see the typed plan. A leaf module: it uses no other file of the crate.

/// A job's identity and topics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct JobSpec {
    /// The job's name: its identity (checkpoints, journal, transactional ids).
    pub name: String,
    /// What the job computes (`balances`, …).
    pub kind: String,
    /// Input topic.
    pub source: String,
    /// Output topic.
    pub sink: String,
    /// Audit topic, if any.
    pub audit: Option<String>,
    /// Dead-letter topic, if set (else `<output>.dead-letters`).
    pub dead_letters: Option<String>,
    /// Key groups (fixed for the life of the job's checkpoints).
    pub key_groups: u32,
}

impl JobSpec {
    /// The dead-letter topic: the one set, else `<output>.dead-letters`.
    pub fn dead_letter_topic(&self) -> String {
        self.dead_letters
            .clone()
            .unwrap_or_else(|| format!("{}.dead-letters", self.sink))
    }
}
