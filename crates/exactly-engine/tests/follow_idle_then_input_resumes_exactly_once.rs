//! A `follow` job that goes idle skips its empty checkpoints (no manifest, no transaction),
//! and when input arrives again it checkpoints and commits it exactly once: skipped
//! checkpoints must not disturb the manifest ids or the sinks' transaction parity. A
//! restart afterwards (in the other sink mode) restores the newest manifest and changes
//! nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use exactly_engine::jobs::{balances, generate_transfers, transfer_record, Rejected};
use exactly_engine::{log_topic, Guarantee, RunOptions, SinkMode};
use exactly_log::{Log, LogConfig};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

fn wait_for(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn follow_job_idles_without_manifests_then_commits_new_input_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogConfig::default()).unwrap();
    let mut transfers = common::write_transfers(&log, "transfers", 2, 9, 3_000, 100);
    let job = balances("transfers", "balances", Rejected::default()).audit(log_topic("applied"));
    let mut options = RunOptions::new(&log, &job, Guarantee::ExactlyOnce);
    options.parallelism = 2;
    options.checkpoint_interval_ms = 5;
    options.follow = true;
    let status = options.status.clone();
    let stop = options.stop.clone();

    let report = std::thread::scope(|scope| {
        let running = scope.spawn(|| job.run(&log, &options));
        wait_for("the first input", || {
            status.records_in.load(Ordering::SeqCst) == 3_000
                && status.checkpoints.load(Ordering::SeqCst) >= 1
        });
        let idle_from = status.last_checkpoint_id.load(Ordering::SeqCst);
        let checkpoints = status.checkpoints.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(200)); // ≈ 40 intervals
                                                        // At most one checkpoint can still have been in flight when the input was read.
        let idle_to = status.last_checkpoint_id.load(Ordering::SeqCst);
        assert!(
            idle_to <= idle_from + 1,
            "manifests while idle: {idle_from} → {idle_to}"
        );
        assert!(status.checkpoints.load(Ordering::SeqCst) <= checkpoints + 1);

        let more = generate_transfers(10, 3_000, 2_000, 100);
        for t in &more {
            let record = transfer_record(t).unwrap();
            let p = exactly_log::partition_for_key(record.key.as_deref().unwrap(), 2);
            log.append("transfers", p, &[record], None).unwrap();
        }
        wait_for("the second input", || {
            status.records_in.load(Ordering::SeqCst) == 5_000
                && status.last_checkpoint_id.load(Ordering::SeqCst) > idle_to
        });
        stop.store(true, Ordering::SeqCst);
        running.join().unwrap()
    })
    .unwrap();
    transfers.extend(generate_transfers(10, 3_000, 2_000, 100));
    common::assert_balances_exactly_once(&log, &transfers, "after idle and more input");

    let mut again = RunOptions::new(&log, &job, Guarantee::ExactlyOnce);
    again.sink_mode = SinkMode::Idempotent;
    let rerun = job.run(&log, &again).unwrap();
    assert_eq!(
        rerun.recovery.checkpoint_id,
        Some(report.last_checkpoint_id)
    );
    assert_eq!(rerun.recovery.aborted_transactions, 0, "{rerun:?}");
    common::assert_balances_exactly_once(&log, &transfers, "after a restart");
}
