//! [`RunError`]: why a job could not run. A leaf module: it uses no other file of the
//! crate.

/// Why a job could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The input topic does not exist.
    #[error("input topic {0:?} does not exist")]
    UnknownTopic(String),
    /// Options out of range.
    #[error("invalid options: {0}")]
    InvalidOptions(String),
    /// A new job was asked to start from a time, and its input cannot find positions by
    /// time.
    #[error(
        "input {input:?} cannot look up where to start by time: start the job from its beginning"
    )]
    StartTimeUnsupported {
        /// The input.
        input: String,
    },
    /// The job name cannot be used (see [`crate::runtime::validate_job_name`]).
    #[error("invalid job name {name:?}: {reason}")]
    InvalidJobName {
        /// The name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// An output topic cannot be used.
    #[error("output topic {topic:?} cannot be used: {reason}")]
    InvalidOutput {
        /// The topic.
        topic: String,
        /// What is wrong.
        reason: String,
    },
    /// The stored checkpoints belong to another job shape.
    #[error("checkpoint {id} does not fit this job: {reason}")]
    IncompatibleCheckpoint {
        /// Checkpoint id.
        id: u64,
        /// What differs.
        reason: String,
    },
    /// The job was started with another topology (inputs, outputs, guarantee, kind, key
    /// groups); resuming it would mix two jobs' state and outputs.
    #[error(
        "job {job:?} was started with another topology (checkpoint {checkpoint}): {differences}; \
         run it with its original options, or start a new job under another name (--job)"
    )]
    TopologyChanged {
        /// The job.
        job: String,
        /// The checkpoint (or journal entry) that recorded the original topology.
        checkpoint: u64,
        /// What differs, field by field.
        differences: String,
    },
    /// The log records checkpoints newer than the newest one on disk: restoring it would
    /// apply input a second time.
    #[error(
        "job {job:?}: the log's journal ({journal}) records checkpoint {committed} as committed, \
         but the newest checkpoint in {location} is {restored}; restoring it would apply input \
         twice. Put the missing checkpoint files back, or start a new job under another name (--job)",
        restored = restored.map_or("none".to_string(), |id| id.to_string()),
    )]
    CheckpointsBehindLog {
        /// The job.
        job: String,
        /// The newest checkpoint found on disk.
        restored: Option<u64>,
        /// The newest checkpoint the journal records.
        committed: u64,
        /// The journal topic.
        journal: String,
        /// Where the checkpoints are (directory, or store and job).
        location: String,
    },
    /// The log (or the status file) shows effects of checkpoints newer than the newest
    /// one on disk: restoring it would apply input a second time.
    #[error(
        "job {job:?}: {evidence}, but the newest checkpoint in {location} is {restored}; \
         restoring it would apply input twice. Put the missing checkpoint files back, or start a \
         new job under another name (--job)",
        restored = restored.map_or("none".to_string(), |id| id.to_string()),
    )]
    OutputsBeyondCheckpoint {
        /// The job.
        job: String,
        /// The newest checkpoint found on disk.
        restored: Option<u64>,
        /// What shows the newer effects.
        evidence: String,
        /// Where the checkpoints are (directory, or store and job).
        location: String,
    },
    /// A manifest was written with another manifest format.
    #[error(
        "checkpoint {id} has manifest format {found}; this build reads {supported}: run it \
         with the build that wrote it, or start a new job under another name (--job)",
        found = describe_version(found.as_deref())
    )]
    ManifestVersion {
        /// Checkpoint id.
        id: u64,
        /// The version found (`None`: written before versions were recorded).
        found: Option<String>,
        /// The version this build reads and writes.
        supported: &'static str,
    },
    /// Newer checkpoints are damaged; restoring an older one could publish outputs twice.
    #[error("exactly-once refuses to restore past damaged checkpoints: {0}")]
    DamagedCheckpoints(String),
    /// An input record was rejected by the job's parse step and the policy is to fail:
    /// nothing at or after it is committed.
    #[error(
        "bad input in {topic} partition {partition} offset {offset}: {reason}; the job stopped \
         before it (nothing at or after it is committed)"
    )]
    BadInput {
        /// The input topic.
        topic: String,
        /// Its partition.
        partition: u32,
        /// The record's offset.
        offset: u64,
        /// Why the record was rejected.
        reason: String,
    },
    /// The job's journal topic holds a record that does not decode.
    #[error("journal {topic} offset {offset} does not decode: {reason}")]
    Journal {
        /// The journal topic.
        topic: String,
        /// The record's offset.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// State, outputs or metadata could not be encoded; nothing was written for them.
    #[error("encoding {what}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// The cause.
        source: exactly_state::SnapshotError,
    },
    /// Syncing the log failed.
    #[error("syncing the log")]
    Flush(#[source] exactly_log::MaintenanceError),
    /// Reading the input failed.
    #[error("reading the log")]
    Read(#[from] exactly_log::ReadError),
    /// Writing outputs failed.
    #[error("writing outputs")]
    Append(#[from] exactly_log::AppendError),
    /// A sink transaction failed.
    #[error("sink transaction")]
    Txn(#[from] exactly_log::TxnError),
    /// Creating an output topic failed.
    #[error("creating a topic")]
    Topic(#[from] exactly_log::TopicError),
    /// Checkpoint storage failed.
    #[error("checkpoint storage")]
    Checkpoint(#[from] exactly_state::CheckpointError),
    /// A state snapshot does not decode.
    #[error("restoring key group {group}")]
    Restore {
        /// The key group.
        group: u32,
        /// The cause.
        source: exactly_state::SnapshotError,
    },
    /// Outputs written ahead in a manifest do not decode.
    #[error("write-ahead outputs in the manifest do not decode")]
    WriteAhead(#[source] exactly_state::SnapshotError),
    /// A runtime thread stopped unexpectedly.
    #[error("runtime thread failed: {0}")]
    Thread(String),
    /// The run was halted ([`RunOptions::halt`](super::RunOptions::halt)): it stopped
    /// without a last checkpoint, as asked.
    #[error("halted without a last checkpoint, as asked")]
    Halted,
    /// Reading an input other than the embedded log failed.
    #[error("reading input {input}")]
    Input {
        /// The input (topic and system).
        input: String,
        /// The cause.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An output other than the embedded log failed (or refused this writer).
    #[error("{what} on {output}")]
    Output {
        /// What was being done (`publishing write-ahead outputs of t/0`, …).
        what: String,
        /// The output (`nats://…`).
        output: String,
        /// The cause.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A manifest version for messages; manifests written before versions were recorded are
/// format 1.
fn describe_version(found: Option<&str>) -> &str {
    match found {
        Some(version) => version,
        None => "1 (unversioned)",
    }
}
