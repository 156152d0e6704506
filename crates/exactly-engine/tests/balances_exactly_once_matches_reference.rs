//! The `balances` job, run to the end of its input under exactly-once with several tasks,
//! leaves every account's last output equal to the reference computed from the input, and
//! its audit shows every transfer's two halves applied exactly once.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use exactly_engine::jobs::{balances, Rejected};
use exactly_engine::{log_topic, Guarantee, RunOptions};
use exactly_log::{Log, LogConfig};

#[test]
fn balances_exactly_once_matches_reference() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogConfig::default()).unwrap();
    let transfers = common::write_transfers(&log, "transfers", 4, 7, 20_000, 300);
    let job = balances("transfers", "balances", Rejected::default()).audit(log_topic("applied"));
    let mut options = RunOptions::new(&log, &job, Guarantee::ExactlyOnce);
    options.parallelism = 2;
    options.checkpoint_every_records = Some(3_000);
    options.read_batch_records = 200;
    let report = job.run(&log, &options).unwrap();
    assert!(report.checkpoints >= 3, "{report:?}");
    common::assert_balances_exactly_once(&log, &transfers, "first run");

    // A second run finds nothing new and changes nothing.
    let again = job.run(&log, &options).unwrap();
    assert_eq!(
        again.recovery.checkpoint_id,
        Some(report.last_checkpoint_id)
    );
    common::assert_balances_exactly_once(&log, &transfers, "second run");
}
