//! A job started from a time (`RunOptions::start_from_time_ms`) on the embedded log begins
//! in each partition at the first record whose timestamp is at or after it: 3 000
//! transfers stamped 1 000 ms, then 3 000 stamped 2 000 ms, a job from 1 500 ms applies
//! exactly the second 3 000 (balances summed by the test itself; the audit names every one
//! of them once and none of the first). Run again with another start time after it has
//! checkpoints, it resumes from them: nothing is read again and nothing changes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use exactly_core::Timestamp;
use exactly_engine::jobs::{balances, generate_transfers, transfer_record, Rejected, Transfer};
use exactly_engine::{log_topic, Guarantee, Lineage, RunOptions};
use exactly_log::{partition_for_key, AppendOutcome, Log, LogConfig, Record};
use std::collections::BTreeMap;

const PARTITIONS: u32 = 4;

#[test]
fn only_records_at_or_after_the_start_time_are_applied() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogConfig::default()).unwrap();
    log.create_topic("transfers", PARTITIONS).unwrap();
    let early = append(&log, &generate_transfers(1, 0, 3_000, 200), 1_000);
    let late = append(&log, &generate_transfers(2, 3_000, 3_000, 200), 2_000);
    assert!(early.len() == 3_000 && late.len() == 3_000);

    let job = balances("transfers", "balances", Rejected::default()).audit(log_topic("applied"));
    let mut options = RunOptions::new(&log, &job, Guarantee::ExactlyOnce);
    options.parallelism = 2;
    options.checkpoint_every_records = Some(500);
    options.start_from_time_ms = Some(1_500);
    let report = job.run(&log, &options).unwrap();
    assert_eq!(report.records_in, 3_000, "{report:?}");
    assert_applied_exactly(&log, &late);

    options.start_from_time_ms = Some(0); // A checkpoint exists: the start time is not used.
    let again = job.run(&log, &options).unwrap();
    assert_eq!(again.records_in, 0, "{again:?}");
    assert_applied_exactly(&log, &late);
}

/// Appends `transfers` stamped `timestamp_ms`, routed by key, 100 per batch; returns
/// each one's (partition, offset) with the transfer.
fn append(log: &Log, transfers: &[Transfer], timestamp_ms: i64) -> Vec<((u32, u64), Transfer)> {
    let mut by_partition: BTreeMap<u32, Vec<(Record, &Transfer)>> = BTreeMap::new();
    for transfer in transfers {
        let mut record = transfer_record(transfer).unwrap();
        record.timestamp = Timestamp(timestamp_ms);
        let partition = partition_for_key(record.key.as_deref().unwrap(), PARTITIONS);
        by_partition
            .entry(partition)
            .or_default()
            .push((record, transfer));
    }
    let mut placed = Vec::new();
    for (partition, items) in by_partition {
        for chunk in items.chunks(100) {
            let records: Vec<Record> = chunk.iter().map(|(r, _)| r.clone()).collect();
            let base = match log.append("transfers", partition, &records, None).unwrap() {
                AppendOutcome::Appended { base_offset, .. } => base_offset.0,
                other => panic!("a plain append is not a duplicate: {other:?}"),
            };
            for (offset, (_, transfer)) in (base..).zip(chunk) {
                placed.push(((partition, offset), (*transfer).clone()));
            }
        }
    }
    placed
}

/// The balances are the sums of `applied` alone, and the audit names each of them once
/// (debit and credit) and nothing else.
fn assert_applied_exactly(log: &Log, applied: &[((u32, u64), Transfer)]) {
    let mut sums: BTreeMap<String, i128> = BTreeMap::new();
    for (_, t) in applied {
        *sums.entry(t.from.clone()).or_default() -= i128::from(t.amount);
        *sums.entry(t.to.clone()).or_default() += i128::from(t.amount);
    }
    assert_eq!(common::last_values(log, "balances"), sums);
    let mut expected: BTreeMap<Lineage, u32> = BTreeMap::new();
    for ((partition, offset), _) in applied {
        for index in 0..2 {
            let lineage = Lineage {
                partition: *partition,
                offset: *offset,
                index,
            };
            expected.insert(lineage, 1);
        }
    }
    assert_eq!(common::audit_counts(log, "applied"), expected);
}
