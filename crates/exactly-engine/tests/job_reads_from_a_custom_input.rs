//! The source seam: `Job::run_from` reads through any `Input`, here an in-memory one
//! whose positions start at 1,000 and step by 3 (like a stream's sequences, not the log's
//! dense offsets) and whose reads return at most 7 records. Run in two phases — the
//! second after more records arrived, resuming from the positions in the checkpoint —
//! the balances equal the sums computed from the records, and a third run reads nothing
//! again (positions are the input's own).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use exactly_engine::jobs::{balances, generate_transfers, transfer_record, Rejected};
use exactly_engine::{Guarantee, Input, InputBatch, JobStatus, RunError, RunOptions};
use exactly_log::{Log, LogConfig, StoredRecord};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const FIRST: u64 = 1_000;
const STEP: u64 = 3;

/// Partitions of records in memory; record i of a partition is at FIRST + STEP·i.
struct MemoryInput {
    partitions: Mutex<Vec<Vec<exactly_log::Record>>>,
    reads: Mutex<u64>,
}

impl Input for MemoryInput {
    fn name(&self) -> &str {
        "memory"
    }

    fn partitions(&self) -> Option<u32> {
        Some(self.partitions.lock().unwrap().len() as u32)
    }

    fn read(
        &self,
        partition: u32,
        position: u64,
        records_max: usize,
    ) -> Result<InputBatch, RunError> {
        *self.reads.lock().unwrap() += 1;
        // Position 0 is where a job without a checkpoint starts: the beginning.
        let position = position.max(FIRST);
        assert!(
            (position - FIRST).is_multiple_of(STEP),
            "position {position}"
        );
        let partitions = self.partitions.lock().unwrap();
        let records = &partitions[partition as usize];
        let start = ((position - FIRST) / STEP) as usize;
        let end = records.len().min(start + records_max.min(7));
        let read: Vec<StoredRecord> = (start..end.max(start))
            .map(|i| StoredRecord {
                offset: exactly_core::Offset(FIRST + STEP * i as u64),
                timestamp: records[i].timestamp,
                key: records[i].key.clone(),
                value: records[i].value.clone(),
            })
            .collect();
        Ok(InputBatch {
            records: read,
            next_position: FIRST + STEP * end.max(start) as u64,
        })
    }

    fn wait(&self, _: u32, _: u64, timeout: Duration) -> Result<(), RunError> {
        std::thread::sleep(timeout);
        Ok(())
    }
}

#[test]
fn job_reads_from_a_custom_input() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogConfig::default()).unwrap();
    // The job's declared input topic exists in the log but stays empty: records come
    // from the custom input only.
    log.create_topic("transfers", 3).unwrap();
    let transfers = generate_transfers(11, 0, 3_000, 50);
    let input = MemoryInput {
        partitions: Mutex::new(vec![Vec::new(); 3]),
        reads: Mutex::new(0),
    };
    let job = balances("transfers", "balances", Rejected::default());
    let mut options = RunOptions::new(&log, &job, Guarantee::ExactlyOnce);
    options.checkpoint_every_records = Some(500);
    options.parallelism = 2;
    let mut expected: BTreeMap<String, i128> = BTreeMap::new();
    for (phase, chunk) in transfers.chunks(1_500).enumerate() {
        {
            let mut partitions = input.partitions.lock().unwrap();
            for (i, t) in chunk.iter().enumerate() {
                partitions[i % 3].push(transfer_record(t).unwrap());
                *expected.entry(t.from.clone()).or_default() -= i128::from(t.amount);
                *expected.entry(t.to.clone()).or_default() += i128::from(t.amount);
            }
        }
        options.status = Arc::new(JobStatus::default());
        let report = job.run_from(&log, &input, &options).unwrap();
        assert_eq!(report.records_in, 1_500, "phase {phase}: {report:?}");
        assert_eq!(
            common::last_values(&log, "balances"),
            expected,
            "phase {phase}"
        );
    }
    options.status = Arc::new(JobStatus::default());
    let again = job.run_from(&log, &input, &options).unwrap();
    assert_eq!(again.records_in, 0, "{again:?}");
    assert!(*input.reads.lock().unwrap() > 3_000 / 7);
}
