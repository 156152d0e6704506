//! Evidence, besides the journal, that a job committed effects its newest checkpoint on
//! disk does not account for — so that deleting the journal topic together with the
//! checkpoints does not silently re-apply the input either:
//!
//! - in the outputs ([`Output::outputs_beyond`]; for the embedded log:) transactional
//!   sink: with no checkpoint at all, any committed transaction under the
//!   job's transactional ids (they commit only after a manifest was written);
//! - idempotent sink: the job's producer sequences in an output partition past what the
//!   restored manifest accounts for (outputs of a later manifest were published);
//! - `status.json`: a checkpoint id newer than the restored one (it is rewritten after
//!   every manifest; unreadable, it proves nothing and is not used).

use super::error::RunError;
use super::manifest::Manifest;
use super::options::RunOptions;
use super::output::Output;
use super::report::StatusFile;
use crate::spec::JobSpec;
use exactly_core::storage::read_file;
use exactly_state::CheckpointStorage;

/// Refuses when the outputs or the status file show effects past `restored`.
pub(crate) fn check(
    job: &JobSpec,
    output: &dyn Output,
    options: &RunOptions,
    restored: Option<&Manifest>,
    store: &dyn CheckpointStorage,
) -> Result<(), RunError> {
    let refuse = |evidence: String| RunError::OutputsBeyondCheckpoint {
        job: job.name.clone(),
        restored: restored.map(|c| c.id),
        evidence,
        location: store.location(),
    };
    if let Some(evidence) = status_ahead(options, restored) {
        return Err(refuse(evidence));
    }
    let mut topics = vec![job.sink.clone(), job.dead_letter_topic()];
    topics.extend(job.audit.clone());
    match output.outputs_beyond(&job.name, &topics, restored)? {
        Some(evidence) => Err(refuse(evidence)),
        None => Ok(()),
    }
}

/// `status.json` naming a newer checkpoint than the restored one, if it does.
fn status_ahead(options: &RunOptions, restored: Option<&Manifest>) -> Option<String> {
    let path = options.state_dir.join("status.json");
    let bytes = match read_file(options.state_storage.as_ref(), &path) {
        Ok(bytes) => bytes,
        Err(error) => {
            if error.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %path.display(), %error, "status file unreadable; not used as evidence");
            }
            return None;
        }
    };
    let status: StatusFile = match serde_json::from_slice(&bytes) {
        Ok(status) => status,
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "status file does not decode; not used as evidence");
            return None;
        }
    };
    let restored_id = restored.map_or(0, |c| c.id);
    (status.checkpoint_id > restored_id).then(|| {
        format!(
            "{} records checkpoint {} as written",
            path.display(),
            status.checkpoint_id
        )
    })
}
