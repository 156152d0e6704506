//! Recovery: find the newest complete checkpoint, check it against the job's journal in
//! the log and the job's topology, and settle every sink transaction against it before
//! anything runs.
//!
//! The journal ([`super::journal`]) records every manifest written, before any of its
//! outputs are committed. If it records a checkpoint newer than the newest one on disk
//! (checkpoint files or `.jobs/` deleted), restoring would apply input again: exactly-once
//! and at-most-once refuse ([`RunError::CheckpointsBehindLog`]); at-least-once, whose
//! contract allows repeats, restores what it has and numbers new checkpoints after the
//! journal's. This check runs before any transaction is settled: a prepared transaction is
//! only committed against a manifest known to be the newest.
//!
//! A sink transaction for checkpoint *n* is prepared before manifest *n* is written and
//! committed after. So after a crash, a prepared transaction named in the newest manifest
//! (same id parity) belongs to it and is committed; any other open or prepared sink
//! transaction belongs to a checkpoint that never completed and is aborted. Sinks alternate
//! two transactional ids by checkpoint parity, and a sink only begins checkpoint *n + 1*
//! after committing *n*, so "named in the newest manifest" is never ambiguous.

use super::context::{group_state_name, position_name, sink_txn_prefix, SINK_TXN_TIMEOUT_MS};
use super::error::RunError;
use super::journal::{self, JournalEntry};
use super::options::RunOptions;
use super::report::RecoveryReport;
use super::topology::Topology;
use crate::spec::JobSpec;
use crate::types::Guarantee;
use exactly_log::{Log, TxnState};
use exactly_state::{Checkpoint, CheckpointStore};
use std::collections::BTreeSet;

/// The manifest format this build writes and reads (metadata `manifest_version`): 2 adds
/// the topology, the dead-letter topic and `.`-separated transactional ids.
pub(crate) const MANIFEST_VERSION: &str = "2";

/// The state a run starts from.
pub(crate) struct Restored {
    pub checkpoint: Option<Checkpoint>,
    pub report: RecoveryReport,
    pub store: CheckpointStore,
    /// The id of the next manifest: above every id on disk (damaged files included) and
    /// in the journal, so ids never repeat.
    pub next_id: u64,
}

impl Restored {
    /// Where input partition `partition` resumes.
    pub fn position(&self, topic: &str, partition: u32) -> u64 {
        self.checkpoint
            .as_ref()
            .and_then(|c| c.positions.get(&position_name(topic, partition)))
            .copied()
            .unwrap_or(0)
    }

    /// Key group `group`'s snapshot, if the checkpoint has one.
    pub fn group_state(&self, group: u32) -> Option<&[u8]> {
        self.checkpoint
            .as_ref()
            .and_then(|c| c.states.get(&group_state_name(group)))
            .map(Vec::as_slice)
    }
}

/// Recovers job `job`: checks (checkpoints, journal, topology) first, then `prepare`
/// (creating the output topics: a refused run creates nothing), then settles transactions
/// and republishes write-ahead outputs.
pub(crate) fn recover(
    job: &JobSpec,
    log: &Log,
    options: &RunOptions,
    prepare: impl FnOnce() -> Result<(), RunError>,
) -> Result<Restored, RunError> {
    let store = CheckpointStore::open(
        options.state_storage.clone(),
        options.state_dir.join("checkpoints"),
        options.checkpoints_kept,
    )?;
    let latest = store.latest()?;
    let mut report = RecoveryReport {
        skipped_damaged: latest.skipped.len(),
        ..RecoveryReport::default()
    };
    let repeats_allowed = options.guarantee == Guarantee::AtLeastOnce;
    if !latest.skipped.is_empty() && !repeats_allowed {
        let list: Vec<String> = latest.skipped.iter().map(|e| e.to_string()).collect();
        return Err(RunError::DamagedCheckpoints(list.join("; ")));
    }
    let topology = Topology::of(job, options.guarantee);
    if let Some(checkpoint) = &latest.checkpoint {
        check_version(checkpoint)?;
        check_compatible(job, checkpoint)?;
        check_topology(
            job,
            &topology,
            checkpoint.id,
            recorded_topology(checkpoint)?,
        )?;
        report.checkpoint_id = Some(checkpoint.id);
        report.checkpoint_clock = Some(checkpoint.clock);
    }
    let restored_id = latest.checkpoint.as_ref().map(|c| c.id);
    let journal = journal::last(log, &job.name)?;
    if let Some(entry) = &journal {
        check_journal(job, &store, restored_id, entry, repeats_allowed)?;
        if restored_id.is_none() {
            check_topology(job, &topology, entry.checkpoint, entry.topology.clone())?;
        }
        if restored_id.is_none_or(|id| id < entry.checkpoint) {
            report.journal_ahead = Some(entry.checkpoint);
        }
    }
    if !repeats_allowed {
        super::evidence::check(job, log, options, latest.checkpoint.as_ref(), &store)?;
    }
    let next_id = [
        restored_id,
        store.newest_id_on_disk()?,
        journal.as_ref().map(|e| e.checkpoint),
    ]
    .into_iter()
    .flatten()
    .max()
    .unwrap_or(0)
        + 1;
    prepare()?;
    settle_sink_transactions(job, log, latest.checkpoint.as_ref(), &mut report)?;
    if let Some(checkpoint) = &latest.checkpoint {
        // Outputs the newest manifest wrote ahead may be only partly published.
        report.republished_outputs = super::write_ahead::publish(log, &job.name, checkpoint)?;
    }
    Ok(Restored {
        checkpoint: latest.checkpoint,
        report,
        store,
        next_id,
    })
}

/// Refuses a journal newer than the restored checkpoint unless repeats are allowed.
fn check_journal(
    job: &JobSpec,
    store: &CheckpointStore,
    restored_id: Option<u64>,
    entry: &JournalEntry,
    repeats_allowed: bool,
) -> Result<(), RunError> {
    let behind = restored_id.is_none_or(|id| id < entry.checkpoint);
    if behind && !repeats_allowed {
        return Err(RunError::CheckpointsBehindLog {
            job: job.name.clone(),
            restored: restored_id,
            committed: entry.checkpoint,
            journal: journal::journal_topic(&job.name),
            dir: store.dir().to_path_buf(),
        });
    }
    Ok(())
}

fn check_version(checkpoint: &Checkpoint) -> Result<(), RunError> {
    let found = checkpoint.metadata.get("manifest_version");
    if found.map(String::as_str) != Some(MANIFEST_VERSION) {
        return Err(RunError::ManifestVersion {
            id: checkpoint.id,
            found: found.cloned(),
            supported: MANIFEST_VERSION,
        });
    }
    Ok(())
}

fn recorded_topology(checkpoint: &Checkpoint) -> Result<Topology, RunError> {
    let text =
        checkpoint
            .metadata
            .get("topology")
            .ok_or_else(|| RunError::IncompatibleCheckpoint {
                id: checkpoint.id,
                reason: "it records no topology".into(),
            })?;
    serde_json::from_str(text).map_err(|e| RunError::IncompatibleCheckpoint {
        id: checkpoint.id,
        reason: format!("its topology does not decode: {e}"),
    })
}

fn check_topology(
    job: &JobSpec,
    now: &Topology,
    checkpoint: u64,
    recorded: Topology,
) -> Result<(), RunError> {
    let differences = now.differences(&recorded);
    if differences.is_empty() {
        return Ok(());
    }
    Err(RunError::TopologyChanged {
        job: job.name.clone(),
        checkpoint,
        differences: differences.join(", "),
    })
}

fn check_compatible(job: &JobSpec, checkpoint: &Checkpoint) -> Result<(), RunError> {
    let expect = [
        ("job", job.name.clone()),
        ("source", job.source.clone()),
        ("key_groups", job.key_groups.to_string()),
    ];
    for (field, want) in expect {
        let found = checkpoint.metadata.get(field).cloned().unwrap_or_default();
        if found != want {
            return Err(RunError::IncompatibleCheckpoint {
                id: checkpoint.id,
                reason: format!("{field} is {found:?}, the job has {want:?}"),
            });
        }
    }
    Ok(())
}

/// The sink transactions manifest `checkpoint` covers.
pub(crate) fn manifest_sinks(checkpoint: &Checkpoint) -> BTreeSet<String> {
    checkpoint
        .metadata
        .get("sinks")
        .map(|s| {
            s.split(',')
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn settle_sink_transactions(
    job: &JobSpec,
    log: &Log,
    checkpoint: Option<&Checkpoint>,
    report: &mut RecoveryReport,
) -> Result<(), RunError> {
    let covered = checkpoint.map(manifest_sinks).unwrap_or_default();
    let prefix = sink_txn_prefix(&job.name);
    for meta in log.transactions()? {
        let open = matches!(
            meta.state,
            TxnState::Ongoing
                | TxnState::Prepared
                | TxnState::PrepareCommit
                | TxnState::PrepareAbort
        );
        if !open || !meta.transactional_id.starts_with(&prefix) {
            continue;
        }
        // Taking the producer over fences the old instance, aborts an ongoing transaction
        // and finishes a decided one; only a prepared one is left for us to decide.
        let mut producer =
            log.transactional_producer(&meta.transactional_id, SINK_TXN_TIMEOUT_MS)?;
        if !producer.is_prepared() {
            if meta.state == TxnState::Ongoing {
                report.aborted_transactions += 1;
            }
            continue;
        }
        if covered.contains(&meta.transactional_id) {
            producer.commit()?;
            report.committed_transactions += 1;
        } else {
            producer.abort()?;
            report.aborted_transactions += 1;
        }
    }
    Ok(())
}
