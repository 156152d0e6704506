//! Regression: recovery settled every open transaction whose id started with
//! `<job>-sink-`, so job `a` aborted (or committed) the prepared transactions of job
//! `a-sink-x` sharing the log — outputs that `a-sink-x`'s newest manifest had promised.
//! Transactional ids are now `<job>.sink.<task>.<parity>` and job names cannot contain
//! `.`, so one job's prefix never matches another's ids.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use exactly_engine::jobs::{balances, Rejected};
use exactly_engine::{sink_transactional_id, Guarantee, RunOptions};
use exactly_log::{Log, LogConfig, Record, TxnState};

#[test]
fn job_a_leaves_the_prepared_transactions_of_job_a_sink_x_alone() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogConfig::default()).unwrap();
    common::write_transfers(&log, "transfers", 2, 3, 2_000, 50);
    log.create_topic("out-x", 1).unwrap();

    // Job `a-sink-x`, stopped between its prepare and its commit, as a crash leaves it.
    let other = sink_transactional_id("a-sink-x", 0, 1);
    let mut producer = log.transactional_producer(&other, 600_000).unwrap();
    producer.begin().unwrap();
    let record = Record {
        timestamp: exactly_core::Timestamp(0),
        key: None,
        value: b"promised".to_vec(),
    };
    producer.send("out-x", 0, &[record]).unwrap();
    producer.prepare().unwrap();
    drop(producer);

    let job = balances("transfers", "balances-a", Rejected::default()).named("a");
    let options = RunOptions::new(&log, &job, Guarantee::ExactlyOnce);
    let report = job.run(&log, &options).unwrap();
    assert_eq!(report.recovery.aborted_transactions, 0, "{report:?}");
    assert_eq!(report.recovery.committed_transactions, 0, "{report:?}");

    let state = log
        .transactions()
        .unwrap()
        .into_iter()
        .find(|t| t.transactional_id == other)
        .map(|t| t.state);
    assert_eq!(state, Some(TxnState::Prepared), "job a settled {other}");
}
