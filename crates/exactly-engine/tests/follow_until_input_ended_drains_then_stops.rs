//! `RunOptions::input_ended`: a `follow` job keeps running at the end of its input until
//! the flag is set, then reads the input to its end and stops by itself (no `stop`). Input
//! appended right before the flag is set — the race a pipeline's downstream stage meets
//! when its upstream commits its last checkpoint and returns — is never left behind: the
//! balances are exact after the run, in every round (parallelism 1 and 2, both sink modes).
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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ROUNDS: u64 = 6;

fn wait_for(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn append_transfers(log: &Log, seed: u64, first_id: u64, count: u64) {
    let mut by_partition: [Vec<exactly_log::Record>; 2] = [Vec::new(), Vec::new()];
    for t in generate_transfers(seed, first_id, count, 50) {
        let record = transfer_record(&t).unwrap();
        let p = exactly_log::partition_for_key(record.key.as_deref().unwrap(), 2);
        by_partition[p as usize].push(record);
    }
    for (p, records) in by_partition.iter().enumerate() {
        log.append("transfers", p as u32, records, None).unwrap();
    }
}

#[test]
fn follow_job_drains_input_appended_before_the_end_flag_then_stops() {
    for round in 0..ROUNDS {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), LogConfig::default()).unwrap();
        let mut transfers = common::write_transfers(&log, "transfers", 2, round, 2_000, 50);
        let job =
            balances("transfers", "balances", Rejected::default()).audit(log_topic("applied"));
        let mut options = RunOptions::new(&log, &job, Guarantee::ExactlyOnce);
        options.parallelism = 1 + (round % 2) as u32;
        options.sink_mode = match round % 4 < 2 {
            true => SinkMode::Transactional,
            false => SinkMode::Idempotent,
        };
        options.checkpoint_interval_ms = 5;
        options.follow = true;
        let ended = Arc::new(AtomicBool::new(false));
        options.input_ended = Some(ended.clone());
        let status = options.status.clone();

        let report = std::thread::scope(|scope| {
            let running = scope.spawn(|| job.run(&log, &options));
            wait_for("the first input", || {
                status.records_in.load(Ordering::SeqCst) == 2_000
                    && status.checkpoints.load(Ordering::SeqCst) >= 1
            });
            std::thread::sleep(Duration::from_millis(30));
            assert!(
                !running.is_finished(),
                "round {round}: stopped before the end flag"
            );
            // Appended, then the flag set at once: the job must still read these.
            append_transfers(&log, round, 2_000, 1_000 + 100 * round);
            ended.store(true, Ordering::SeqCst);
            wait_for("the job to stop by itself", || running.is_finished());
            running.join().unwrap()
        })
        .unwrap();
        assert!(!options.stop.load(Ordering::SeqCst));
        assert_eq!(report.records_in, 3_000 + 100 * round, "round {round}");
        transfers.extend(generate_transfers(round, 2_000, 1_000 + 100 * round, 50));
        common::assert_balances_exactly_once(&log, &transfers, &format!("round {round}"));
    }
}
