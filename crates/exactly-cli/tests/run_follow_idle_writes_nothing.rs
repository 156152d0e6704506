//! An idle `--follow` job (input drained, nothing new) must not write: every checkpoint
//! interval used to commit an empty transaction and a new manifest, growing
//! `__transactions` by ~0.8 KB/s forever. Empty checkpoints (no input consumed, no state
//! change, no output) are now skipped.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::run_common;

use run_common::{bytes_under, checkpoint_files, exactly, gen_transfers};
use std::process::Stdio;
use std::time::{Duration, Instant};

const INTERVAL_MS: u64 = 10;
const IDLE_INTERVALS: u64 = 100;

#[test]
fn idle_follow_job_writes_nothing_to_transactions_or_manifests() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("log");
    gen_transfers(&dir, 1_000, 5);
    let mut child = exactly(
        &[
            "run",
            "balances",
            "--input",
            "transfers",
            "--output",
            "balances",
            "--follow",
            "--checkpoint-interval-ms",
            &INTERVAL_MS.to_string(),
        ],
        &dir,
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    // Wait until the job has checkpointed the whole input (its status says so).
    let status_path = dir.join(".jobs/balances/status.json");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let records_in = std::fs::read(&status_path)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v["records_in"].as_u64());
        if records_in == Some(1_000) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the job never checkpointed its input"
        );
        assert!(child.try_wait().unwrap().is_none(), "the follow job exited");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The commit of the last checkpoint follows its status: wait until `__transactions`
    // stops changing (an idle job that keeps writing never gets there and fails here).
    let transactions = dir.join("__transactions");
    let mut stable_since = Instant::now();
    let mut before = bytes_under(&transactions);
    while stable_since.elapsed() < Duration::from_millis(INTERVAL_MS * 30) {
        assert!(
            Instant::now() < deadline,
            "__transactions kept growing while idle: {before} bytes"
        );
        std::thread::sleep(Duration::from_millis(INTERVAL_MS));
        let now = bytes_under(&transactions);
        if now != before {
            before = now;
            stable_since = Instant::now();
        }
    }
    let manifests_before = checkpoint_files(&dir, "balances");
    let status_before = std::fs::read(&status_path).unwrap();

    std::thread::sleep(Duration::from_millis(INTERVAL_MS * IDLE_INTERVALS));
    let after = bytes_under(&transactions);
    let manifests_after = checkpoint_files(&dir, "balances");
    let status_after = std::fs::read(&status_path).unwrap();
    assert!(child.try_wait().unwrap().is_none(), "the follow job exited");
    child.kill().unwrap();
    child.wait().unwrap();

    assert_eq!(
        after, before,
        "__transactions grew while idle for {IDLE_INTERVALS} intervals"
    );
    assert_eq!(
        manifests_after, manifests_before,
        "new manifests while idle"
    );
    assert_eq!(status_after, status_before, "status rewritten while idle");
}
