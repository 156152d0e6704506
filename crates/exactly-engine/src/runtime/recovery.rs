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

use super::error::RunError;
use super::journal::{self, JournalEntry};
use super::manifest::Manifest;
use super::options::{Checkpoints, RunOptions};
use super::output::Output;
use super::report::RecoveryReport;
use super::topology::Topology;
use crate::spec::JobSpec;
use crate::types::Guarantee;
use exactly_state::{CheckpointStorage, CheckpointStore};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The state a run starts from.
pub(crate) struct Restored {
    /// The newest manifest, if any (checked against the job: it lists every input
    /// partition).
    pub manifest: Option<Manifest>,
    pub report: RecoveryReport,
    pub store: Arc<dyn CheckpointStorage>,
    /// The id of the next manifest: above every id on disk (damaged files included) and
    /// in the journal, so ids never repeat.
    pub next_id: u64,
    /// Where each input partition starts when there is no manifest: looked up for a job
    /// started from a time (`None`: at 0, the beginning).
    pub starts: Option<BTreeMap<u32, u64>>,
}

impl Restored {
    /// Where input partition `partition` resumes: the manifest's position, or, when there
    /// is no manifest, where the job starts (the beginning, or the position looked up by
    /// time).
    pub fn position(&self, partition: u32) -> u64 {
        match &self.manifest {
            Some(manifest) => {
                #[allow(clippy::expect_used)]
                // invariant: `recover` refused any manifest not listing every input partition.
                manifest
                    .position(partition)
                    .expect("the manifest lists every input partition")
            }
            None => match &self.starts {
                #[allow(clippy::expect_used)]
                // invariant: `starts` is looked up for every input partition or not at all.
                Some(starts) => *starts
                    .get(&partition)
                    .expect("a start for every input partition"),
                None => 0,
            },
        }
    }

    /// Key group `group`'s snapshot, if the manifest has one.
    pub fn group_state(&self, group: u32) -> Option<&[u8]> {
        self.manifest
            .as_ref()
            .and_then(|m| m.key_groups.get(&group))
            .map(Vec::as_slice)
    }
}

/// Recovers job `job`: checks (checkpoints, journal, topology) first, then `prepare`
/// (creating the output topics: a refused run creates nothing), then settles transactions
/// and republishes write-ahead outputs. `input_partitions` is the input topic's partition
/// count: a manifest must list each of them.
pub(crate) fn recover(
    job: &JobSpec,
    output: &dyn Output,
    options: &RunOptions,
    input_partitions: u32,
    prepare: impl FnOnce() -> Result<(), RunError>,
) -> Result<Restored, RunError> {
    let store = open_checkpoints(options)?;
    let location = store.location();
    let latest = store
        .latest()
        .inspect_err(|error| tracing::warn!(%location, %error, "reading checkpoints"))?;
    let mut report = RecoveryReport {
        skipped_damaged: latest.skipped.len(),
        ..RecoveryReport::default()
    };
    for skipped in &latest.skipped {
        tracing::warn!(%location, error = %skipped, "damaged checkpoint");
    }
    let repeats_allowed = options.guarantee == Guarantee::AtLeastOnce;
    if !latest.skipped.is_empty() && !repeats_allowed {
        let list: Vec<String> = latest.skipped.iter().map(|e| e.to_string()).collect();
        return Err(RunError::DamagedCheckpoints(list.join("; ")));
    }
    let topology = Topology::of(job, options.guarantee);
    let manifest = match &latest.checkpoint {
        Some(checkpoint) => Some(Manifest::from_checkpoint(checkpoint)?),
        None => None,
    };
    if let Some(manifest) = &manifest {
        check_compatible(job, manifest, input_partitions)?;
        check_topology(job, &topology, manifest.id, manifest.topology.clone())?;
        report.checkpoint_id = Some(manifest.id);
        report.checkpoint_clock = Some(manifest.clock);
    }
    let restored_id = manifest.as_ref().map(|m| m.id);
    let journal = output.journal_last(&job.name)?;
    if let Some(entry) = &journal {
        check_journal(job, store.as_ref(), restored_id, entry, repeats_allowed)?;
        if restored_id.is_none() {
            check_topology(job, &topology, entry.checkpoint, entry.topology.clone())?;
        }
        if restored_id.is_none_or(|id| id < entry.checkpoint) {
            report.journal_ahead = Some(entry.checkpoint);
        }
    }
    if !repeats_allowed {
        super::evidence::check(job, output, options, manifest.as_ref(), store.as_ref())?;
    }
    let newest = [
        restored_id,
        store.newest_id()?,
        journal.as_ref().map(|e| e.checkpoint),
    ]
    .into_iter()
    .flatten()
    .max();
    // No manifest anywhere: the job's first one is 1.
    let next_id = newest.map_or(1, |id| id + 1);
    prepare()?;
    output.settle(&job.name, manifest.as_ref(), &mut report)?;
    if let Some(manifest) = &manifest {
        // Outputs the newest manifest wrote ahead may be only partly published.
        report.republished_outputs = output.publish_ahead(&job.name, manifest)?;
    }
    Ok(Restored {
        manifest,
        report,
        store,
        next_id,
        starts: None,
    })
}

/// The job's checkpoint storage: the one in the options, or the files in
/// `<state_dir>/checkpoints`.
fn open_checkpoints(options: &RunOptions) -> Result<Arc<dyn CheckpointStorage>, RunError> {
    match &options.checkpoints {
        Checkpoints::Store(store) => {
            // The status file still lives in the state directory (the file store creates
            // it as the parent of its own).
            let dir = &options.state_dir;
            options
                .state_storage
                .create_dir_all(dir)
                .map_err(|source| {
                    tracing::warn!(path = %dir.display(), %source, "creating the state directory");
                    exactly_state::CheckpointError::Io {
                        path: dir.clone(),
                        source,
                    }
                })?;
            Ok(store.clone())
        }
        Checkpoints::StateDir => {
            let dir = options.state_dir.join("checkpoints");
            let store = CheckpointStore::open(
                options.state_storage.clone(),
                dir.clone(),
                options.checkpoints_kept,
            )
            .inspect_err(
                |error| tracing::warn!(path = %dir.display(), %error, "opening checkpoints"),
            )?;
            Ok(Arc::new(store))
        }
    }
}

/// Refuses a journal newer than the restored checkpoint unless repeats are allowed.
fn check_journal(
    job: &JobSpec,
    store: &dyn CheckpointStorage,
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
            location: store.location(),
        });
    }
    Ok(())
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

/// The manifest belongs to this job (name, input, key groups) and lists every input
/// partition.
fn check_compatible(
    job: &JobSpec,
    manifest: &Manifest,
    input_partitions: u32,
) -> Result<(), RunError> {
    let expect = [
        ("job", job.name.clone(), manifest.job.clone()),
        (
            "source",
            job.source.clone(),
            manifest.topology.input.clone(),
        ),
        (
            "key_groups",
            job.key_groups.to_string(),
            manifest.topology.key_groups.to_string(),
        ),
    ];
    for (field, want, found) in expect {
        if found != want {
            return Err(RunError::IncompatibleCheckpoint {
                id: manifest.id,
                reason: format!("{field} is {found:?}, the job has {want:?}"),
            });
        }
    }
    let listed: Vec<u32> = manifest.positions.keys().copied().collect();
    let all: Vec<u32> = (0..input_partitions).collect();
    if listed != all {
        return Err(RunError::IncompatibleCheckpoint {
            id: manifest.id,
            reason: format!(
                "it records positions of input partitions {listed:?}, the input has {input_partitions}"
            ),
        });
    }
    Ok(())
}
