//! `exactly log consume --log nats://…` from a time and following: 100 records are
//! produced, a time T is taken, 50 more are produced; `--from-time T` prints exactly the
//! 50 (every partition starts at its first record stored at or after T). A `--follow`
//! consumer started from the beginning prints the 150, then the 30 produced while it runs,
//! in order within each partition, and nothing twice. Our own nats-server.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::nats_run_common;

use nats_run_common::{exactly, server};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[test]
fn from_time_skips_earlier_records_and_follow_sees_new_ones() {
    let temp = tempfile::tempdir().unwrap();
    let Some(server) = server(&temp.path().join("nats")) else {
        return;
    };
    let url = server.url();
    let created = exactly(&[
        "log",
        "create",
        "--log",
        &url,
        "--topic",
        "t",
        "--partitions",
        "2",
    ])
    .stdout(Stdio::null())
    .status()
    .unwrap();
    assert!(created.success());
    produce(&url, temp.path(), 1, 0..100);
    std::thread::sleep(Duration::from_millis(20));
    let from_time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
        .to_string();
    std::thread::sleep(Duration::from_millis(20));
    produce(&url, temp.path(), 2, 100..150);

    let later = exactly(&[
        "log",
        "consume",
        "--log",
        &url,
        "--topic",
        "t",
        "--from-time",
        &from_time,
    ])
    .output()
    .unwrap();
    assert!(
        later.status.success(),
        "{}",
        String::from_utf8_lossy(&later.stderr)
    );
    let values = values_of(&String::from_utf8(later.stdout).unwrap());
    assert_eq!(sorted(&values), (100..150).collect::<Vec<_>>());

    let mut follower = exactly(&["log", "consume", "--log", &url, "--topic", "t", "--follow"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines_tx, lines) = mpsc::channel();
    let stdout = follower.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if lines_tx.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    let mut seen = receive(&lines, 150);
    produce(&url, temp.path(), 3, 150..180);
    seen.extend(receive(&lines, 30));
    follower.kill().unwrap();
    follower.wait().unwrap();
    let values = values_of(&seen.join("\n"));
    assert_eq!(
        sorted(&values),
        (0..180).collect::<Vec<_>>(),
        "each record once"
    );
    assert_in_order_per_partition(&seen);
}

/// `exactly log produce` of records `v-<i>` keyed `k-<i % 7>` under producer id `id`.
fn produce(url: &str, dir: &Path, id: u64, range: std::ops::Range<u64>) {
    let input = dir.join(format!("input-{id}.jsonl"));
    let mut file = std::fs::File::create(&input).unwrap();
    for i in range {
        writeln!(file, r#"{{"key":"k-{}","value":"v-{i}"}}"#, i % 7).unwrap();
    }
    drop(file);
    let status = exactly(&[
        "log",
        "produce",
        "--log",
        url,
        "--topic",
        "t",
        "--producer-id",
        &id.to_string(),
    ])
    .arg("--input")
    .arg(&input)
    .stdout(Stdio::null())
    .status()
    .unwrap();
    assert!(status.success(), "produce {id}");
}

/// `count` more lines from the follower, failing after 15 s without them.
fn receive(lines: &mpsc::Receiver<String>, count: usize) -> Vec<String> {
    (0..count)
        .map(|n| {
            lines
                .recv_timeout(Duration::from_secs(15))
                .unwrap_or_else(|e| panic!("line {n} of {count} did not come: {e}"))
        })
        .collect()
}

fn values_of(output: &str) -> Vec<u64> {
    output
        .lines()
        .map(|line| {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            let value = record["value"].as_str().unwrap();
            value.strip_prefix("v-").unwrap().parse().unwrap()
        })
        .collect()
}

fn sorted(values: &[u64]) -> Vec<u64> {
    let mut values = values.to_vec();
    values.sort_unstable();
    values
}

/// Within each partition, offsets rise by one and values (produced in order) rise.
fn assert_in_order_per_partition(lines: &[String]) {
    let mut last: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    for line in lines {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        let partition = record["partition"].as_u64().unwrap();
        let offset = record["offset"].as_u64().unwrap();
        let value: u64 = record["value"].as_str().unwrap()[2..].parse().unwrap();
        if let Some((last_offset, last_value)) = last.get(&partition) {
            assert_eq!(offset, last_offset + 1, "partition {partition}");
            assert!(value > *last_value, "partition {partition}");
        }
        last.insert(partition, (offset, value));
    }
}
