//! A real `kill -9` loop on NATS: `exactly log produce --log nats://… --producer-id` is
//! killed with SIGKILL at random moments (12 kills that land mid-run; `EXACTLY_KILLS` for
//! more), re-run with the same command each time, then allowed to finish. The input file
//! grows by 1 000 lines before every run (as a file a user keeps appending to), so every
//! run has work left however fast the server is. Its resume reads the streams' tails, not
//! JetStream's duplicate window. Oracles: `exactly nats verify`
//! (lineage ids: no duplicate, no gap) and `exactly log consume --log`: every input record
//! once, in input order within each partition. The server is our own nats-server with
//! `sync_interval: always`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::kill_common;
use crate::produce_common;

use exactly_nats::server::{server_binary, NatsServer};
use kill_common::{kill_loop, EXE};
use produce_common::{write_input, PARTITIONS};
use rand::Rng;
use std::process::{Command, Stdio};
use std::time::Duration;

fn exactly(args: &[&str]) -> Command {
    let mut command = Command::new(EXE);
    command.args(args).stdin(Stdio::null());
    command
}

/// Lines of the input before the first run.
const INITIAL_RECORDS: usize = 20_000;
/// Lines appended to the input before each run.
const GROWTH_RECORDS: usize = 1_000;

#[test]
fn produce_killed_with_sigkill_ends_exactly_once() {
    let required = std::env::var("EXACTLY_REQUIRE_SERVICES").is_ok_and(|v| v == "1");
    if server_binary().is_err() && !required {
        eprintln!("skipped: no nats-server binary (run .ci/setup-nats)");
        return;
    }
    let kills: u32 = std::env::var("EXACTLY_KILLS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(12);
    let seed: u64 = std::env::var("EXACTLY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    eprintln!("kills {kills}, seed {seed} (EXACTLY_SEED={seed} replays)");
    let temp = tempfile::tempdir().unwrap();
    let server = NatsServer::start_single(&temp.path().join("nats")).unwrap();
    server.wait_ready(10_000).unwrap();
    let url = server.url();
    let input = temp.path().join("input.jsonl");
    write_input(&input, INITIAL_RECORDS);
    let created = exactly(&[
        "log",
        "create",
        "--log",
        &url,
        "--topic",
        "t",
        "--partitions",
        "3",
    ])
    .stdout(Stdio::null())
    .status()
    .unwrap();
    assert!(created.success());

    let produce = |input: &std::path::Path| {
        let mut command = exactly(&[
            "log",
            "produce",
            "--log",
            &url,
            "--topic",
            "t",
            "--producer-id",
            "42",
            "--batch-records",
            "200",
        ]);
        command
            .arg("--input")
            .arg(input)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        command
    };
    let mut records = INITIAL_RECORDS;
    let grow = || {
        // The previous run was reaped: nobody reads the file while it is rewritten.
        records += GROWTH_RECORDS;
        write_input(&input, records);
        produce(&input)
    };
    let (killed_mid_run, runs) = kill_loop(kills, seed, 6, grow, |rng| {
        Duration::from_millis(rng.random_range(20..400))
    });
    let expected = write_input(&input, INITIAL_RECORDS + GROWTH_RECORDS * runs as usize);
    let finished = produce(&input).status().unwrap();
    assert!(finished.success(), "final produce run failed (seed {seed})");
    assert_eq!(
        killed_mid_run, kills,
        "kills that landed mid-run in {runs} runs (seed {seed})"
    );

    let verify = exactly(&["nats", "verify", "--log", &url, "--topic", "t"])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&verify.stdout).to_string();
    assert!(
        verify.status.success(),
        "verify: {report} {}",
        String::from_utf8_lossy(&verify.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(report.trim()).unwrap();
    let total: usize = expected.iter().map(Vec::len).sum();
    assert_eq!(report["records"], total as u64);

    let output = exactly(&["log", "consume", "--log", &url, "--topic", "t"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let mut actual = vec![Vec::new(); PARTITIONS as usize];
    for line in String::from_utf8(output.stdout).unwrap().lines() {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        let partition = record["partition"].as_u64().unwrap() as usize;
        assert_eq!(
            record["offset"].as_u64().unwrap() as usize,
            actual[partition].len() + 1,
            "dense sequences from 1"
        );
        actual[partition].push(record["value"].as_str().unwrap().to_string());
    }
    for partition in 0..PARTITIONS as usize {
        assert_eq!(
            actual[partition], expected[partition],
            "partition {partition} (seed {seed})"
        );
    }
}
