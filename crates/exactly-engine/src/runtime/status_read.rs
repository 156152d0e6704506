//! Reading a job's [`StatusFile`] back from its default state directory (what
//! `exactly run status` prints), with typed errors for a job that never checkpointed and
//! for a file that does not decode.

use super::options::default_state_dir;
use super::report::StatusFile;
use exactly_log::Log;
use std::path::PathBuf;

/// Why a job's status could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// No status file (the job never completed a checkpoint here), or it is unreadable.
    #[error("job {job:?} has no status yet ({})", path.display())]
    Missing {
        /// The job.
        job: String,
        /// The status file looked for.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// The status file does not decode.
    #[error("reading {}", path.display())]
    Decode {
        /// The status file.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
}

/// The status of `job` in `log` (its `status.json` in the default state directory).
pub fn read_status(log: &Log, job: &str) -> Result<StatusFile, StatusError> {
    read_status_in(&default_state_dir(log, job), job)
}

/// The status of `job` whose state directory is `state_dir` (its `status.json`).
pub fn read_status_in(state_dir: &std::path::Path, job: &str) -> Result<StatusFile, StatusError> {
    let path = state_dir.join("status.json");
    let bytes = std::fs::read(&path).map_err(|source| {
        tracing::warn!(path = %path.display(), %source, "status: cannot read the status file");
        StatusError::Missing {
            job: job.to_string(),
            path: path.clone(),
            source,
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|source| {
        tracing::warn!(path = %path.display(), %source, "status: the status file does not decode");
        StatusError::Decode { path, source }
    })
}
