//! A real `kill -9` loop of `exactly log copy` (exactly-once): killed with SIGKILL ≥ 50
//! times mid-run (EXACTLY_KILLS for more), re-run with the same command each time, then
//! allowed to finish. The output topic, read committed, must then hold every input record
//! exactly once, transformed, with each input partition's order kept.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::kill_common;

use kill_common::{exactly, kill_loop, kills_and_seed};
use rand::Rng;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const INPUT_PARTITIONS: usize = 3;
const RECORDS: usize = 60_000;

fn copy_command(dir: &Path) -> Command {
    let mut command = exactly(
        &[
            "log",
            "copy",
            "--from",
            "in",
            "--to",
            "out",
            "--group",
            "g",
            "--transform",
            "upper",
        ],
        dir,
    );
    command
        .args(["--commit-interval-ms", "15"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

#[test]
fn copy_killed_with_sigkill_ends_exactly_once() {
    let (kills, seed) = kills_and_seed();
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("log");
    for (topic, partitions) in [("in", "3"), ("out", "2")] {
        let status = exactly(
            &[
                "log",
                "create",
                "--topic",
                topic,
                "--partitions",
                partitions,
            ],
            &dir,
        )
        .stdout(Stdio::null())
        .status()
        .unwrap();
        assert!(status.success());
    }
    let input = temp.path().join("input.jsonl");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&input).unwrap());
    for i in 0..RECORDS {
        writeln!(file, r#"{{"value":"v{i}","timestamp":{i}}}"#).unwrap();
    }
    file.flush().unwrap();
    drop(file);
    let produced = exactly(&["log", "produce", "--topic", "in"], &dir)
        .arg("--input")
        .arg(&input)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(produced.success());

    // Once the input is copied a run only opens, recovers and commits positions: a few
    // milliseconds. Half the kills aim there (start-up and recovery), half anywhere.
    let (killed_mid_run, runs) = kill_loop(
        kills,
        seed,
        10,
        || copy_command(&dir),
        |rng| match rng.random_bool(0.5) {
            true => Duration::from_millis(rng.random_range(1..6)),
            false => Duration::from_millis(rng.random_range(3..80)),
        },
    );
    let last = copy_command(&dir).stdout(Stdio::piped()).output().unwrap();
    assert!(last.status.success(), "final copy run (seed {seed})");
    let summary: serde_json::Value = serde_json::from_slice(&last.stdout).unwrap();
    let copied_by_last = summary["copied"].as_u64().unwrap() as usize;
    println!(
        "runs {runs}, mid-run kills {killed_mid_run}, copied by the final run {copied_by_last}"
    );
    assert!(
        copied_by_last < RECORDS,
        "killed runs committed progress before the final run (seed {seed})"
    );
    assert_eq!(
        killed_mid_run, kills,
        "kills that landed mid-run in {runs} runs (seed {seed})"
    );

    let output = exactly(&["log", "consume", "--topic", "out"], &dir)
        .output()
        .unwrap();
    assert!(output.status.success());
    let mut seen = vec![0u32; RECORDS];
    let mut last_per_input = [None::<usize>; INPUT_PARTITIONS];
    let mut last_out_partition = [None::<u64>; INPUT_PARTITIONS];
    for line in String::from_utf8(output.stdout).unwrap().lines() {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        let value = record["value"].as_str().unwrap();
        let i: usize = value
            .strip_prefix('V')
            .expect("transformed to upper case")
            .parse()
            .unwrap();
        seen[i] += 1;
        // Keyless input went round-robin: record i sits in input partition i % 3, and all of
        // an input partition's records go to one output partition, in order.
        let source = i % INPUT_PARTITIONS;
        let out_partition = record["partition"].as_u64().unwrap();
        assert_eq!(
            *last_out_partition[source].get_or_insert(out_partition),
            out_partition
        );
        if let Some(previous) = last_per_input[source] {
            assert!(
                previous < i,
                "input partition {source} out of order: {previous} then {i} (seed {seed})"
            );
        }
        last_per_input[source] = Some(i);
    }
    let missing = seen.iter().filter(|n| **n == 0).count();
    let duplicated = seen.iter().filter(|n| **n > 1).count();
    assert_eq!(
        (missing, duplicated),
        (0, 0),
        "exactly once after {kills} kills (seed {seed})"
    );
}
