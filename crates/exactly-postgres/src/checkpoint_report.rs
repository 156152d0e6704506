//! A job's checkpoints in PostgreSQL as `exactly run status` reports them: every stored
//! checkpoint listed, and the newest one loaded and checked (body checksum, blob
//! digests), so the report says which checkpoint a restart would restore and which newer
//! ones are damaged.

use crate::checkpoint_store::{PgCheckpointConfig, PostgresCheckpointStore, StoredCheckpoint};
use exactly_state::{CheckpointError, CheckpointStorage};
use serde::Serialize;

/// What a job's checkpoint store holds.
#[derive(Clone, Debug, Serialize)]
pub struct CheckpointReport {
    /// The job.
    pub job: String,
    /// Where the checkpoints are (database, schema, job).
    pub store: String,
    /// The checkpoint a restart restores (`None`: none is restorable).
    pub restorable_checkpoint: Option<u64>,
    /// That checkpoint's clock.
    pub restorable_clock_ms: Option<i64>,
    /// Newer checkpoints skipped as damaged, why each.
    pub damaged_newer: Vec<String>,
    /// Every stored checkpoint, oldest first.
    pub checkpoints: Vec<StoredCheckpoint>,
}

/// Why the report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointReportError {
    /// The store could not be opened.
    #[error("opening the checkpoints of {job} in PostgreSQL")]
    Open {
        /// The job.
        job: String,
        /// Why.
        #[source]
        source: CheckpointError,
    },
    /// Listing failed.
    #[error("listing the checkpoints of {job}")]
    List {
        /// The job.
        job: String,
        /// Why.
        #[source]
        source: CheckpointError,
    },
    /// Loading the newest checkpoint failed (other than a damaged body, which is skipped
    /// and reported).
    #[error("restoring the newest checkpoint of {job}")]
    Restore {
        /// The job.
        job: String,
        /// Why.
        #[source]
        source: CheckpointError,
    },
}

/// Reads the checkpoints `config` names, without claiming an epoch (a running job is not
/// fenced by a report).
pub fn checkpoint_report(
    config: &PgCheckpointConfig,
) -> Result<CheckpointReport, CheckpointReportError> {
    let job = || config.job.clone();
    let reader = PostgresCheckpointStore::open_reader(config)
        .map_err(|source| CheckpointReportError::Open { job: job(), source })?;
    let checkpoints = reader
        .list()
        .map_err(|source| CheckpointReportError::List { job: job(), source })?;
    let newest = reader
        .latest()
        .map_err(|source| CheckpointReportError::Restore { job: job(), source })?;
    Ok(CheckpointReport {
        job: job(),
        store: reader.location(),
        restorable_checkpoint: newest.checkpoint.as_ref().map(|c| c.id),
        restorable_clock_ms: newest.checkpoint.as_ref().map(|c| c.clock.0),
        damaged_newer: newest.skipped.iter().map(|e| e.to_string()).collect(),
        checkpoints,
    })
}
