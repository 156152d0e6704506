//! Every timestamp a job stamps comes from the clock in its [`RunOptions`]: run with a
//! hand-driven clock, its outputs, its audit records and its journal entry carry exactly
//! that clock's time, and so does the status file — never the machine's wall clock.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use exactly_core::ManualClock;
use exactly_engine::jobs::{balances, Rejected};
use exactly_engine::{journal_topic, Guarantee, RunOptions, StatusFile};
use exactly_log::{Log, LogConfig};
use std::sync::Arc;

const NOW_MS: i64 = 1_234_567;

#[test]
fn outputs_audit_journal_and_status_carry_the_run_clock() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogConfig::default()).unwrap();
    let transfers = common::write_transfers(&log, "transfers", 2, 7, 500, 30);
    let job = balances("transfers", "balances", Rejected::default())
        .audit(exactly_engine::log_topic("applied"));
    let mut options = RunOptions::new(&log, &job, Guarantee::ExactlyOnce);
    options.checkpoint_every_records = Some(100);
    options.clock = Arc::new(ManualClock::new(NOW_MS));
    let report = job.run(&log, &options).unwrap();
    assert!(report.checkpoints >= 1);
    common::assert_balances_exactly_once(&log, &transfers, "manual clock");

    for topic in ["balances", "applied", &journal_topic(job.name())] {
        let records = common::read_all(&log, topic);
        assert!(!records.is_empty(), "{topic} is empty");
        for (partition, record) in records {
            assert_eq!(
                record.timestamp.0, NOW_MS,
                "{topic}/{partition}@{:?} stamped by another clock",
                record.offset
            );
        }
    }
    let status: StatusFile =
        serde_json::from_slice(&std::fs::read(options.state_dir.join("status.json")).unwrap())
            .unwrap();
    assert_eq!(status.updated_ms, NOW_MS);
}
