//! Evidence, besides the journal, that a job committed effects its newest checkpoint on
//! disk does not account for — so that deleting the journal topic together with the
//! checkpoints does not silently re-apply the input either:
//!
//! - transactional sink: with no checkpoint at all, any committed transaction under the
//!   job's transactional ids (they commit only after a manifest was written);
//! - idempotent sink: the job's producer sequences in an output partition past what the
//!   restored manifest accounts for (outputs of a later manifest were published);
//! - `status.json`: a checkpoint id newer than the restored one (it is rewritten after
//!   every manifest; unreadable, it proves nothing and is not used).

use super::context::sink_txn_prefix;
use super::error::RunError;
use super::manifest::Manifest;
use super::options::RunOptions;
use super::report::StatusFile;
use super::write_ahead::{producer_id, Sequences};
use crate::spec::JobSpec;
use exactly_core::storage::read_file;
use exactly_log::{Log, TxnState};
use exactly_state::CheckpointStore;

/// Refuses when the log or the status file shows effects past `restored`.
pub(crate) fn check(
    job: &JobSpec,
    log: &Log,
    options: &RunOptions,
    restored: Option<&Manifest>,
    store: &CheckpointStore,
) -> Result<(), RunError> {
    let refuse = |evidence: String| RunError::OutputsBeyondCheckpoint {
        job: job.name.clone(),
        restored: restored.map(|c| c.id),
        evidence,
        dir: store.dir().to_path_buf(),
    };
    if let Some(evidence) = status_ahead(options, restored) {
        return Err(refuse(evidence));
    }
    if restored.is_none() {
        let prefix = sink_txn_prefix(&job.name);
        let committed = log.transactions()?.into_iter().find(|t| {
            t.transactional_id.starts_with(&prefix) && t.state == TxnState::CompleteCommit
        });
        if let Some(txn) = committed {
            return Err(refuse(format!(
                "the log holds a committed transaction of this job ({})",
                txn.transactional_id
            )));
        }
    }
    let sequences = match restored {
        Some(manifest) => Sequences::after(manifest),
        // No manifest: the job's idempotent producer has published nothing.
        None => Sequences::default(),
    };
    let producer = producer_id(&job.name);
    let mut topics = vec![job.sink.clone(), job.dead_letter_topic()];
    topics.extend(job.audit.clone());
    for topic in topics {
        // A topic that does not exist yet holds no records of this producer.
        let partitions = log.partition_count(&topic).unwrap_or(0);
        for partition in 0..partitions {
            let held = log
                .producer_state(&topic, partition, producer)?
                .and_then(|s| s.last_sequence)
                .map_or(0, |last| last.0 + 1);
            let accounted = sequences.next(&(topic.clone(), partition));
            if held > accounted {
                return Err(refuse(format!(
                    "{topic} partition {partition} holds {held} outputs of this job's \
                     idempotent producer, the checkpoint accounts for {accounted}"
                )));
            }
        }
    }
    Ok(())
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
