//! `exactly log consume --follow` in one process sees records that `exactly log produce`
//! appends in another, including records written after a segment roll, without taking the
//! writer's lock.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const EXE: &str = env!("CARGO_BIN_EXE_exactly");

#[test]
fn follower_sees_records_appended_by_another_process() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("log");
    let created = Command::new(EXE)
        .args(["log", "create", "--topic", "t", "--dir"])
        .arg(&dir)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(created.success());
    let mut follower = Command::new(EXE)
        .args([
            "log", "consume", "--topic", "t", "--follow", "--max", "300", "--dir",
        ])
        .arg(&dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut producer = Command::new(EXE)
        .args([
            "log",
            "produce",
            "--topic",
            "t",
            "--batch-records",
            "1",
            "--segment-bytes",
            "65536",
            "--dir",
        ])
        .arg(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut input = producer.stdin.take().unwrap();
    // A 2 KiB value per record; with one record per batch the producer keeps writing
    // while the follower reads.
    let filler = "x".repeat(2048);
    for i in 0..300 {
        writeln!(input, r#"{{"value":"{i}-{filler}"}}"#).unwrap();
    }
    drop(input);
    assert!(producer.wait().unwrap().success());

    let deadline = Instant::now() + Duration::from_secs(20);
    let mut lines = BufReader::new(follower.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    let segments = std::fs::read_dir(dir.join("t/0"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "log")
        })
        .count();
    assert!(
        segments > 5,
        "the producer rolled segments while followed: {segments}"
    );
    while seen.len() < 300 && Instant::now() < deadline {
        let Some(line) = lines.next() else { break };
        let record: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        let value = record["value"].as_str().unwrap();
        seen.push(value.split('-').next().unwrap().parse::<u32>().unwrap());
    }
    let status = follower.wait().unwrap();
    assert!(status.success(), "follower exits after --max records");
    assert_eq!(
        seen,
        (0..300).collect::<Vec<_>>(),
        "every record once, in order"
    );
}
