//! A new job started from a time (`exactly run balances --log nats://… --from-time T`)
//! reads only what the server stored at or after T, and keeps doing so through SIGKILLs:
//! 4 000 transfers are published, T is taken, 4 000 more follow, then the job runs with
//! `--follow` and is killed at random moments (≥ 10 kills landed, some before its first
//! checkpoint, so restarts without a checkpoint look T up again), with more transfers
//! published before every run; a final run reads to the end. The oracle reads the input
//! itself and counts only the records after the first 4 000 (by their stream sequences,
//! noted before T): balances equal their sums, each was applied exactly once, and an
//! audit naming any earlier record fails the test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::kill_common;
use crate::nats_run_common;

use exactly_nats::NatsLog;
use kill_common::kill_loop;
use nats_run_common::{assert_balances_exactly_once_after, gen, run_balances, server};
use rand::Rng;
use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const BEFORE: u64 = 4_000;
const AFTER: u64 = 4_000;
const PER_RUN: u64 = 1_000;

#[test]
fn a_job_started_from_a_time_skips_what_came_before_through_kills() {
    let temp = tempfile::tempdir().unwrap();
    let Some(server) = server(&temp.path().join("nats")) else {
        return;
    };
    let url = server.url();
    let (kills, seed) = exactly_testkit::cli::nats_kills_and_seed(10);
    gen(&url, BEFORE, seed);
    let skipped = last_sequences(&url);
    std::thread::sleep(Duration::from_millis(20));
    let from_time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
        .to_string();
    std::thread::sleep(Duration::from_millis(20));
    gen(&url, AFTER, seed.wrapping_add(1));
    let dir = temp.path().join("state");
    let mut runs = 0u32;
    let (landed, total_runs) = kill_loop(
        kills,
        seed,
        6,
        || {
            runs += 1;
            gen(&url, PER_RUN, seed.wrapping_add(1 + u64::from(runs)));
            let mut command = run_balances(&url, &dir, 1 + runs % 2);
            command
                .args(["--follow", "--from-time", &from_time])
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            command
        },
        |rng| Duration::from_millis(rng.random_range(30..400)),
    );
    println!("{landed} kills landed in {total_runs} runs");
    assert!(
        landed >= kills,
        "only {landed} of {kills} kills landed (seed {seed})"
    );
    let last = run_balances(&url, &dir, 2)
        .args(["--from-time", &from_time])
        .output()
        .unwrap();
    assert!(
        last.status.success(),
        "the final run failed (seed {seed}): {}",
        String::from_utf8_lossy(&last.stderr)
    );
    let counted = assert_balances_exactly_once_after(&url, &skipped);
    assert_eq!(
        counted,
        AFTER + PER_RUN * u64::from(total_runs),
        "transfers after the start time (seed {seed})"
    );
}

/// Each input partition's last sequence now.
fn last_sequences(url: &str) -> BTreeMap<u32, u64> {
    let log = NatsLog::connect(url).unwrap();
    let topic = log.open_topic("transfers").unwrap();
    (0..topic.partitions())
        .map(|p| (p, log.partition_state(&topic, p).unwrap().last_seq))
        .collect()
}
