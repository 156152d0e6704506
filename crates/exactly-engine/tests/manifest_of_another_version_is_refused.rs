//! The manifest format is versioned: a manifest of another format version (metadata
//! `manifest_version`), or a checkpoint file of another container version, is refused
//! with a typed error — never restored as if it were this format, and never skipped as
//! damaged (restoring an older one instead could apply input twice).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use exactly_engine::jobs::{balances, Rejected};
use exactly_engine::{Guarantee, RunError, RunOptions};
use exactly_log::{Log, LogConfig};
use exactly_state::{CheckpointError, CheckpointStore};
use std::sync::Arc;

#[test]
fn other_manifest_and_file_versions_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogConfig::default()).unwrap();
    common::write_transfers(&log, "transfers", 2, 5, 1_000, 40);
    let job = balances("transfers", "balances", Rejected::default());
    let options = RunOptions::new(&log, &job, Guarantee::ExactlyOnce);
    job.run(&log, &options).unwrap();

    let checkpoints = options.state_dir.join("checkpoints");
    let store = CheckpointStore::open(Arc::new(exactly_core::StdStorage), &checkpoints, 3).unwrap();
    let mut newest = store.latest().unwrap().checkpoint.unwrap();
    newest.id += 1;
    newest
        .metadata
        .insert("manifest_version".to_string(), "1".to_string());
    store.write(&newest).unwrap();
    match job.run(&log, &options) {
        Err(RunError::ManifestVersion { id, found, .. }) => {
            assert_eq!(id, newest.id);
            assert_eq!(found.as_deref(), Some("1"));
        }
        other => panic!("expected ManifestVersion, got {other:?}"),
    }

    // A file of another container version, newer than the rest.
    let mut files: Vec<_> = std::fs::read_dir(&checkpoints)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut bytes = std::fs::read(files.last().unwrap()).unwrap();
    bytes[4..8].copy_from_slice(&99u32.to_le_bytes());
    let name = format!("checkpoint-{:020}.ckpt", newest.id + 1);
    std::fs::write(checkpoints.join(name), bytes).unwrap();
    match job.run(&log, &options) {
        Err(RunError::Checkpoint(CheckpointError::UnsupportedVersion { found, .. })) => {
            assert_eq!(found, 99);
        }
        other => panic!("expected UnsupportedVersion, got {other:?}"),
    }
}
