//! A real `kill -9` loop: `exactly log produce --producer-id` is killed with SIGKILL at
//! random moments ≥ 50 times (EXACTLY_KILLS for more), re-run with the same command each
//! time, then allowed to finish. `exactly log consume` must then return every input record
//! exactly once, in input order within each partition.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::kill_common;
use crate::produce_common;

use kill_common::{exactly, kill_loop, kills_and_seed};
use produce_common::{write_input, PARTITIONS};
use rand::Rng;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn produce_command(dir: &Path, input: &Path) -> Command {
    let mut command = exactly(
        &[
            "log",
            "produce",
            "--topic",
            "t",
            "--producer-id",
            "42",
            "--batch-records",
            "50",
        ],
        dir,
    );
    command
        .arg("--input")
        .arg(input)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

#[test]
fn produce_killed_with_sigkill_ends_exactly_once() {
    let (kills, seed) = kills_and_seed();
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("log");
    let input = temp.path().join("input.jsonl");
    let expected = write_input(&input, 20_000);
    let created = exactly(
        &["log", "create", "--topic", "t", "--partitions", "3"],
        &dir,
    )
    .stdout(Stdio::null())
    .status()
    .unwrap();
    assert!(created.success());

    // Keep going until `kills` SIGKILLs have landed while the producer was still running
    // (runs that finish before their kill do not count), within a bounded number of runs.
    let (killed_mid_run, runs) = kill_loop(
        kills,
        seed,
        6,
        || produce_command(&dir, &input),
        |rng| Duration::from_millis(rng.random_range(2..60)),
    );
    let finished = produce_command(&dir, &input).status().unwrap();
    assert!(finished.success(), "final produce run failed (seed {seed})");
    assert_eq!(
        killed_mid_run, kills,
        "kills that landed mid-run in {runs} runs (seed {seed})"
    );

    let verify = exactly(&["log", "verify"], &dir).output().unwrap();
    assert!(
        verify.status.success(),
        "verify failed: {}",
        String::from_utf8_lossy(&verify.stderr)
    );
    let output = exactly(&["log", "consume", "--topic", "t"], &dir)
        .output()
        .unwrap();
    assert!(output.status.success());
    let mut actual = vec![Vec::new(); PARTITIONS as usize];
    for line in String::from_utf8(output.stdout).unwrap().lines() {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        let partition = record["partition"].as_u64().unwrap() as usize;
        assert_eq!(
            record["offset"].as_u64().unwrap() as usize,
            actual[partition].len(),
            "dense offsets"
        );
        actual[partition].push(record["value"].as_str().unwrap().to_string());
    }
    for partition in 0..PARTITIONS as usize {
        assert_eq!(
            actual[partition].len(),
            expected[partition].len(),
            "partition {partition}: record count (seed {seed})"
        );
        assert_eq!(
            actual[partition], expected[partition],
            "partition {partition} (seed {seed})"
        );
    }
}
