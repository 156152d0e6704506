//! Rescaling: the same job restarted with parallelism 2, then 3, then 2 again — each run
//! restoring the previous one's checkpoint, with new input appended in between — ends every
//! phase with exact results: `balances` (monoid state) equal to the reference and applied
//! exactly once per the audit, and `wordcount` (a custom PersistentTask) with every word's
//! last running count equal to its number of occurrences.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use exactly_engine::jobs::{
    balances, generate_lines, reference_balances, transfer_record, wordcount, Rejected,
};
use exactly_engine::{log_topic, Guarantee, RunOptions};
use exactly_log::{partition_for_key, Log, LogConfig, Record};
use std::collections::BTreeMap;

fn append_by_key(log: &Log, topic: &str, records: Vec<Record>) {
    let partitions = log.partition_count(topic).unwrap();
    let mut by_partition: BTreeMap<u32, Vec<Record>> = BTreeMap::new();
    for r in records {
        by_partition
            .entry(partition_for_key(r.key.as_deref().unwrap(), partitions))
            .or_default()
            .push(r);
    }
    for (p, records) in by_partition {
        log.append(topic, p, &records, None).unwrap();
    }
}

#[test]
fn balances_rescale_2_3_2() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogConfig::default()).unwrap();
    log.create_topic("transfers", 4).unwrap();
    let job = balances("transfers", "balances", Rejected::default()).audit(log_topic("applied"));
    let mut all = Vec::new();
    for (phase, parallelism) in [2u32, 3, 2].into_iter().enumerate() {
        let transfers =
            exactly_engine::jobs::generate_transfers(phase as u64, all.len() as u64, 4_000, 200);
        append_by_key(
            &log,
            "transfers",
            transfers
                .iter()
                .map(|t| transfer_record(t).unwrap())
                .collect(),
        );
        all.extend(transfers);
        let mut options = RunOptions::new(&log, &job, Guarantee::ExactlyOnce);
        options.parallelism = parallelism;
        options.checkpoint_every_records = Some(700);
        options.read_batch_records = 100;
        let report = job.run(&log, &options).unwrap();
        assert!(report.checkpoints >= 2, "phase {phase}: {report:?}");
        assert_eq!(
            common::last_values(&log, "balances"),
            reference_balances(&all),
            "phase {phase} (parallelism {parallelism})"
        );
        let audit = common::audit_counts(&log, "applied");
        assert_eq!(audit.len(), 2 * all.len(), "phase {phase}");
        assert!(audit.values().all(|&n| n == 1), "phase {phase}");
    }
}

#[test]
fn wordcount_rescale_2_3_2() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogConfig::default()).unwrap();
    log.create_topic("lines", 3).unwrap();
    let job = wordcount("lines", "counts");
    let mut expected: BTreeMap<String, i128> = BTreeMap::new();
    for (phase, parallelism) in [2u32, 3, 2].into_iter().enumerate() {
        let lines = generate_lines(phase as u64, 2_000, 300);
        for line in &lines {
            for word in line.split_whitespace() {
                *expected.entry(word.to_string()).or_insert(0) += 1;
            }
        }
        let records = lines
            .into_iter()
            .enumerate()
            .map(|(i, line)| Record {
                timestamp: exactly_core::Timestamp(i as i64),
                key: Some(format!("{phase}-{i}").into_bytes()),
                value: line.into_bytes(),
            })
            .collect();
        append_by_key(&log, "lines", records);
        let mut options = RunOptions::new(&log, &job, Guarantee::ExactlyOnce);
        options.parallelism = parallelism;
        options.checkpoint_every_records = Some(300);
        options.read_batch_records = 50;
        job.run(&log, &options).unwrap();
        assert_eq!(
            common::last_values(&log, "counts"),
            expected,
            "phase {phase} (parallelism {parallelism})"
        );
    }
}
