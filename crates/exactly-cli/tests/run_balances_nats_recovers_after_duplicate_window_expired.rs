//! Exactly-once on NATS does not rest on JetStream's duplicate window: the output and
//! audit topics are created with a 1 s window, `exactly run balances --log nats://…` is
//! killed with SIGKILL at a random moment, the test waits 3 s (every message id the
//! killed run published is forgotten by the server), then recovery runs to the end. A
//! kill that lands after a manifest is durable but before its outputs are all published
//! makes recovery republish them (`republished_on_recovery` > 0); re-sending them by id
//! would now store duplicates, reading the streams' tails does not. Repeated until such
//! kills happened at least twice (at most 40 rounds); the oracle then finds exact
//! balances, every transfer applied once and no duplicate or gap among lineage ids.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::nats_run_common;

use nats_run_common::{assert_balances_exactly_once, exactly, gen, run_balances, server};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::process::Stdio;
use std::time::Duration;

const ROUNDS_MAX: u32 = 40;
const REPUBLISHING_RECOVERIES_WANTED: u32 = 2;
/// New input per round: enough that the run is still reading, checkpointing every 20 ms
/// and publishing, when the kill comes 30–300 ms after its start on a fast machine.
const TRANSFERS_PER_ROUND: u64 = 20_000;

fn create_with_short_window(url: &str, topic: &str, partitions: &str) {
    let status = exactly(&[
        "log",
        "create",
        "--log",
        url,
        "--topic",
        topic,
        "--partitions",
        partitions,
        "--duplicate-window-ms",
        "1000",
    ])
    .stdout(Stdio::null())
    .status()
    .unwrap();
    assert!(status.success(), "creating {topic}");
}

#[test]
fn recovery_after_the_duplicate_window_expired_publishes_nothing_twice() {
    let temp = tempfile::tempdir().unwrap();
    let Some(server) = server(&temp.path().join("nats")) else {
        return;
    };
    let url = server.url();
    let seed: u64 = std::env::var("EXACTLY_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    println!("seed {seed} (EXACTLY_SEED={seed} replays it)");
    let mut rng = SmallRng::seed_from_u64(seed);
    let dir = temp.path().join("state");
    create_with_short_window(&url, "balances", "4");
    create_with_short_window(&url, "applied", "1");
    let mut transfers = 0;
    let mut republishing = 0;
    let mut rounds = 0;
    while republishing < REPUBLISHING_RECOVERIES_WANTED && rounds < ROUNDS_MAX {
        rounds += 1;
        gen(
            &url,
            TRANSFERS_PER_ROUND,
            seed.wrapping_add(u64::from(rounds)),
        );
        transfers += TRANSFERS_PER_ROUND;
        let mut child = run_balances(&url, &dir, 1 + rounds % 2)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.random_range(30..300)));
        let exited_first = child.try_wait().unwrap().is_some();
        child.kill().unwrap();
        child.wait().unwrap();
        // Longer than the window: the server forgot every id the killed run published.
        std::thread::sleep(Duration::from_secs(3));
        let recovery = run_balances(&url, &dir, 2).output().unwrap();
        assert!(
            recovery.status.success(),
            "recovery failed (seed {seed}): {}",
            String::from_utf8_lossy(&recovery.stderr)
        );
        let summary: serde_json::Value =
            serde_json::from_slice(recovery.stdout.trim_ascii()).expect("one JSON line");
        let republished = summary["republished_on_recovery"].as_u64().unwrap();
        println!(
            "round {rounds}: exited before the kill {exited_first}, republished {republished}"
        );
        if republished > 0 {
            republishing += 1;
        }
    }
    assert!(
        republishing >= REPUBLISHING_RECOVERIES_WANTED,
        "in {rounds} rounds only {republishing} kills landed between a manifest and the end \
         of its publication (seed {seed})"
    );
    assert_eq!(assert_balances_exactly_once(&url), transfers);
}
