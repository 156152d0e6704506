//! A manifest written the old way — version 2, string maps: metadata fields,
//! `topic/partition` positions and `kg/…` states — is still restored: a job whose newest
//! checkpoint is such a manifest resumes from it and, given more input, ends with every
//! transfer applied exactly once.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use exactly_engine::jobs::{balances, generate_transfers, transfer_record, Rejected};
use exactly_engine::runtime::Manifest;
use exactly_engine::{log_topic, Guarantee, RunOptions, SinkMode};
use exactly_log::{Log, LogConfig};
use exactly_state::{Checkpoint, CheckpointStore};
use std::collections::BTreeMap;
use std::sync::Arc;

/// `manifest` as version 2 wrote it, under id `id`.
fn version_2(manifest: &Manifest, id: u64) -> Checkpoint {
    let topology = &manifest.topology;
    let sinks: Vec<String> = (0..manifest.parallelism)
        .map(|task| exactly_engine::sink_transactional_id(&manifest.job, task, id))
        .collect();
    let metadata = BTreeMap::from([
        ("manifest_version".to_string(), "2".to_string()),
        (
            "topology".to_string(),
            serde_json::to_string(topology).unwrap(),
        ),
        ("kind".to_string(), topology.kind.clone()),
        ("dead_letters".to_string(), topology.dead_letters.clone()),
        (
            "sink_mode".to_string(),
            match manifest.sink_mode {
                SinkMode::Transactional => "transactional",
                SinkMode::Idempotent => "idempotent",
            }
            .to_string(),
        ),
        ("job".to_string(), manifest.job.clone()),
        ("source".to_string(), topology.input.clone()),
        ("sink".to_string(), topology.output.clone()),
        ("key_groups".to_string(), topology.key_groups.to_string()),
        ("parallelism".to_string(), manifest.parallelism.to_string()),
        (
            "guarantee".to_string(),
            topology.guarantee.as_str().to_string(),
        ),
        ("sinks".to_string(), sinks.join(",")),
    ]);
    Checkpoint {
        id,
        clock: manifest.clock,
        positions: manifest
            .positions
            .iter()
            .map(|(p, offset)| (format!("{}/{p}", topology.input), *offset))
            .collect(),
        states: manifest
            .key_groups
            .iter()
            .map(|(g, bytes)| (format!("kg/{g:05}"), bytes.clone()))
            .collect(),
        metadata,
    }
}

#[test]
fn a_version_2_manifest_is_resumed_from() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogConfig::default()).unwrap();
    let partitions = 2;
    let mut transfers = common::write_transfers(&log, "transfers", partitions, 11, 400, 25);
    let job = balances("transfers", "balances", Rejected::default()).audit(log_topic("applied"));
    let mut options = RunOptions::new(&log, &job, Guarantee::ExactlyOnce);
    options.checkpoint_every_records = Some(90);
    job.run(&log, &options).unwrap();

    let store = CheckpointStore::open(
        Arc::new(exactly_core::StdStorage),
        options.state_dir.join("checkpoints"),
        3,
    )
    .unwrap();
    let newest = store.latest().unwrap().checkpoint.unwrap();
    let manifest = Manifest::from_checkpoint(&newest).unwrap();
    assert_eq!(newest.metadata["manifest_version"], "3");
    let old = version_2(&manifest, manifest.id + 1);
    store.write(&old).unwrap();
    // What the old layout holds decodes to the same manifest.
    let decoded = Manifest::from_checkpoint(&old).unwrap();
    assert_eq!(decoded.positions, manifest.positions);
    assert_eq!(decoded.key_groups, manifest.key_groups);
    assert_eq!(decoded.topology, manifest.topology);

    // More input, then resume from the version-2 manifest.
    let more = generate_transfers(12, 400, 300, 25);
    for t in &more {
        let record = transfer_record(t).unwrap();
        let p = exactly_log::partition_for_key(record.key.as_deref().unwrap(), partitions);
        log.append("transfers", p, &[record], None).unwrap();
    }
    transfers.extend(more);
    let report = job.run(&log, &options).unwrap();
    assert_eq!(report.recovery.checkpoint_id, Some(old.id));
    assert!(report.last_checkpoint_id > old.id);
    common::assert_balances_exactly_once(&log, &transfers, "resumed from version 2");
}
