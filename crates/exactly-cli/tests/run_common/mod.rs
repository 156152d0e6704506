//! Shared helpers of the `exactly run` CLI tests. Oracles here read the log through
//! `exactly log consume` and compute what the job must output straight from the input
//! lines, independently of the engine's own check.
#![allow(dead_code)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The binary under test.
pub const EXE: &str = env!("CARGO_BIN_EXE_exactly");

/// `exactly <args> --dir <dir>` with no standard input.
pub fn exactly(args: &[&str], dir: &Path) -> Command {
    exactly_testkit::cli::command_in(EXE, args, dir)
}

/// Runs `exactly <args> --dir <dir>` to the end and returns its output.
pub fn run(args: &[&str], dir: &Path) -> Output {
    exactly(args, dir).output().unwrap()
}

/// Standard error as text.
pub fn stderr(output: &Output) -> String {
    exactly_testkit::cli::text(&output.stderr)
}

/// Standard output as text.
pub fn stdout(output: &Output) -> String {
    exactly_testkit::cli::text(&output.stdout)
}

/// `exactly gen transfers` into `transfers` (4 partitions, 200 accounts).
pub fn gen_transfers(dir: &Path, count: u64, seed: u64) {
    gen_transfers_over(dir, 200, count, seed);
}

/// `exactly gen transfers` into `transfers` (4 partitions) between `accounts` accounts.
pub fn gen_transfers_over(dir: &Path, accounts: u32, count: u64, seed: u64) {
    let output = run(
        &[
            "gen",
            "transfers",
            "--topic",
            "transfers",
            "--partitions",
            "4",
            "--accounts",
            &accounts.to_string(),
            "--count",
            &count.to_string(),
            "--seed",
            &seed.to_string(),
        ],
        dir,
    );
    assert!(output.status.success(), "gen: {}", stderr(&output));
}

/// `exactly run balances` from `transfers` to `balances` with `extra` arguments, at
/// `parallelism` with `sink`, its output discarded (for kill loops).
pub fn balances_command(dir: &Path, extra: &[&str], parallelism: u32, sink: &str) -> Command {
    let mut command = exactly(
        &[
            "run",
            "balances",
            "--input",
            "transfers",
            "--output",
            "balances",
        ],
        dir,
    );
    command
        .args(extra)
        .args(["--parallelism", &parallelism.to_string(), "--sink", sink])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

/// The sink of the `run`-th run of a kill loop: two transactional runs, then two
/// idempotent ones, so restores also switch sink modes.
pub fn sink_of_run(run: u32) -> &'static str {
    match run % 4 < 2 {
        true => "transactional",
        false => "idempotent",
    }
}

/// Creates `topic` with `partitions` and appends `values` (keyless) with `log produce`.
pub fn produce_values(dir: &Path, topic: &str, partitions: u32, values: &[String]) {
    let output = run(
        &[
            "log",
            "create",
            "--topic",
            topic,
            "--partitions",
            &partitions.to_string(),
        ],
        dir,
    );
    assert!(output.status.success(), "create: {}", stderr(&output));
    let lines: Vec<serde_json::Value> = values
        .iter()
        .map(|v| serde_json::json!({ "value": v }))
        .collect();
    append_lines(dir, topic, &lines);
}

/// Appends `(key, value)` records to the existing `topic` with `log produce`.
pub fn append_keyed(dir: &Path, topic: &str, records: &[(String, String)]) {
    let lines: Vec<serde_json::Value> = records
        .iter()
        .map(|(k, v)| serde_json::json!({ "key": k, "value": v }))
        .collect();
    append_lines(dir, topic, &lines);
}

fn append_lines(dir: &Path, topic: &str, lines: &[serde_json::Value]) {
    let lines: String = lines.iter().map(|v| format!("{v}\n")).collect();
    let mut child = exactly(&["log", "produce", "--topic", topic], dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(lines.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "produce: {}", stderr(&output));
}

/// One consumed record.
#[derive(Clone, Debug)]
pub struct Consumed {
    pub partition: u64,
    pub offset: u64,
    pub key: Option<String>,
    pub value: String,
}

/// Every committed record of `topic` (empty if the topic does not exist).
pub fn consume(dir: &Path, topic: &str) -> Vec<Consumed> {
    let output = run(&["log", "consume", "--topic", topic], dir);
    if !output.status.success() {
        return Vec::new();
    }
    stdout(&output)
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            Consumed {
                partition: v["partition"].as_u64().unwrap(),
                offset: v["offset"].as_u64().unwrap(),
                key: v["key"].as_str().map(str::to_string),
                value: value_bytes_text(line),
            }
        })
        .collect()
}

/// The value's bytes (as text) of one `log consume` line: a JSON string's contents, or
/// the JSON document printed verbatim (JSON values print as JSON, not as strings).
pub fn value_bytes_text(line: &str) -> String {
    let fields: std::collections::HashMap<String, Box<serde_json::value::RawValue>> =
        serde_json::from_str(line).unwrap();
    let raw = fields["value"].get();
    match raw.starts_with('"') {
        true => serde_json::from_str::<String>(raw).unwrap(),
        false => raw.to_string(),
    }
}

/// Balances computed naively from the values of the input topic; values that are not a
/// transfer are returned as the second element (partition, offset).
pub fn reference_balances(dir: &Path, topic: &str) -> (BTreeMap<String, i128>, Vec<(u64, u64)>) {
    let mut balances = BTreeMap::new();
    let mut bad = Vec::new();
    for record in consume(dir, topic) {
        let parsed: Option<(String, String, i128)> =
            serde_json::from_str::<serde_json::Value>(&record.value)
                .ok()
                .and_then(|v| {
                    Some((
                        v.get("from")?.as_str()?.to_string(),
                        v.get("to")?.as_str()?.to_string(),
                        i128::from(v.get("amount")?.as_i64()?),
                    ))
                })
                .filter(|_| {
                    serde_json::from_str::<serde_json::Value>(&record.value).unwrap()["id"].is_u64()
                });
        match parsed {
            Some((from, to, amount)) => {
                *balances.entry(from).or_insert(0) -= amount;
                *balances.entry(to).or_insert(0) += amount;
            }
            None => bad.push((record.partition, record.offset)),
        }
    }
    (balances, bad)
}

/// The last committed `{"key":…,"value":n}` per key of an output topic.
pub fn last_balances(dir: &Path, topic: &str) -> BTreeMap<String, i128> {
    let mut last = BTreeMap::new();
    for record in consume(dir, topic) {
        let v: serde_json::Value = serde_json::from_str(&record.value).unwrap();
        let value: i128 = v["value"].to_string().parse().unwrap();
        last.insert(v["key"].as_str().unwrap().to_string(), value);
    }
    last
}

/// `exactly run balances --input transfers --output <output>` plus `extra` arguments.
pub fn run_balances(dir: &Path, output: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "run",
        "balances",
        "--input",
        "transfers",
        "--output",
        output,
        "--checkpoint-interval-ms",
        "5",
    ];
    args.extend_from_slice(extra);
    run(&args, dir)
}

/// The manifest files of job `job`, oldest first.
pub fn checkpoint_files(dir: &Path, job: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(dir.join(".jobs").join(job).join("checkpoints"))
            .map(|entries| entries.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "ckpt"));
    files.sort();
    files
}

/// Every file under `dir` with its size and contents, for "nothing was written" checks.
pub fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    exactly_testkit::cli::tree(dir).unwrap()
}

/// Total bytes of the files under `dir` (0 if it does not exist).
pub fn bytes_under(dir: &Path) -> u64 {
    if !dir.exists() {
        return 0;
    }
    tree(dir).values().map(|v| v.len() as u64).sum()
}
