//! Storage-fault sweep of a log with an idempotent producer, transactions and an
//! exactly-once checkpointing job: one bit flipped, one sector zeroed or the file truncated,
//! at sampled places of **every file** the scenario leaves on disk (segments, indexes,
//! producer snapshots, `__transactions`, topic metadata, checkpoint manifests,
//! `status.json`). After each fault every command a user would run next — verify,
//! consume, check, resume the producer, the next transaction, more input and the job again
//! — must either work with nothing acknowledged lost or doubled (checked against the
//! scenario's own inputs), or refuse with an error naming the damaged file. Exit 0 with
//! data lost or doubled is a failure.
//!
//! Knobs: `EXACTLY_SEED`, `EXACTLY_FAULT_SAMPLES` (random flips per file, default 1).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::fault_common;

use fault_common::{exactly_os, seed_and_samples, sweep, Judge};
use serde_json::Value;
use std::ffi::OsStr;
use std::path::Path;

/// Payments appended by producer 7 before the faults, and in all after them.
const PAYMENTS_BEFORE: usize = 200;
const PAYMENTS_AFTER: usize = 300;
/// Transfers generated before the faults (two job runs) and added after them.
const TRANSFERS_FIRST: u64 = 3000;
const TRANSFERS_SECOND: u64 = 2000;
const TRANSFERS_AFTER: u64 = 1000;
const ACCOUNTS: &str = "50";
/// Options of every `log produce`: small batches, and small segments so that sealed
/// segments with their index files exist too.
const PRODUCE_OPTIONS: [&str; 4] = ["--batch-records", "40", "--segment-bytes", "4096"];

/// `exactly <args…> --dir <dir>`.
fn run(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut all: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    all.push(OsStr::new("--dir"));
    all.push(dir.as_os_str());
    exactly_os(&all)
}

fn must(dir: &Path, args: &[&str]) -> String {
    let output = run(dir, args);
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn payment_lines(count: usize) -> String {
    (0..count)
        .map(|i| format!("{{\"key\":\"k{}\",\"value\":\"pay-{i}\"}}\n", i % 37))
        .collect()
}

fn ledger_lines(tag: &str, count: usize) -> String {
    (0..count)
        .map(|i| format!("{{\"topic\":\"ledger\",\"key\":\"l{i}\",\"value\":\"{tag}-{i}\"}}\n"))
        .collect()
}

/// The inputs of the scenario, as files.
struct Inputs {
    payments_before: std::path::PathBuf,
    payments_after: std::path::PathBuf,
    ledger: [std::path::PathBuf; 4],
}

fn write_inputs(root: &Path) -> Inputs {
    let file = |name: &str, text: String| {
        let path = root.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    Inputs {
        payments_before: file("payments-before.jsonl", payment_lines(PAYMENTS_BEFORE)),
        payments_after: file("payments-after.jsonl", payment_lines(PAYMENTS_AFTER)),
        ledger: [
            file("ledger-a.jsonl", ledger_lines("a", 30)),
            file("ledger-b.jsonl", ledger_lines("b", 20)),
            file("ledger-c.jsonl", ledger_lines("c", 25)),
            file("ledger-d.jsonl", ledger_lines("d", 10)),
        ],
    }
}

fn balances_job(dir: &Path) -> std::process::Output {
    run(
        dir,
        &[
            "run",
            "balances",
            "--input",
            "transfers",
            "--output",
            "balances",
            "--guarantee",
            "exactly-once",
            "--audit",
            "applied",
            "--checkpoint-interval-ms",
            "20",
        ],
    )
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Builds the log the faults are injected into.
fn build(dir: &Path, inputs: &Inputs) {
    must(
        dir,
        &["log", "create", "--topic", "payments", "--partitions", "2"],
    );
    must(dir, &["log", "create", "--topic", "ledger"]);
    let payments = path_str(&inputs.payments_before);
    must(
        dir,
        &[
            "log",
            "produce",
            "--topic",
            "payments",
            "--producer-id",
            "7",
        ]
        .into_iter()
        .chain(PRODUCE_OPTIONS)
        .chain(["--input", payments])
        .collect::<Vec<_>>(),
    );
    for (i, ledger) in inputs.ledger[..3].iter().enumerate() {
        let mut args = vec!["log", "txn", "--transactional-id", "t1", "--input"];
        args.push(path_str(ledger));
        if i == 1 {
            args.push("--abort");
        }
        must(dir, &args);
    }
    for count in [TRANSFERS_FIRST, TRANSFERS_SECOND] {
        let count = count.to_string();
        must(
            dir,
            &[
                "gen",
                "transfers",
                "--topic",
                "transfers",
                "--count",
                &count,
            ]
            .into_iter()
            .chain(["--accounts", ACCOUNTS, "--seed", "1"])
            .collect::<Vec<_>>(),
        );
        assert!(balances_job(dir).status.success());
    }
}

const TOPICS: [&str; 5] = ["payments", "ledger", "transfers", "balances", "applied"];

fn consume(dir: &Path, topic: &str) -> std::process::Output {
    run(
        dir,
        &[
            "log",
            "consume",
            "--topic",
            topic,
            "--isolation",
            "read-committed",
        ],
    )
}

/// `value` of every JSON line.
fn values(lines: &str) -> Vec<String> {
    lines
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["value"].as_str().unwrap().to_string()
        })
        .collect()
}

/// Checks `run check`'s JSON: every balance right, R = UR = 1 over `transfers`.
fn check_accepts(stdout: &str, transfers: u64) -> bool {
    let Ok(report) = serde_json::from_str::<Value>(stdout.trim()) else {
        return false;
    };
    report["transfers"] == transfers
        && report["accounts_wrong"] == 0
        && report["unparseable"] == 0
        && report["r"] == 1.0
        && report["ur"] == 1.0
}

/// Runs every command after one fault in `dir`; `truth` holds the pre-fault dumps.
fn judge_fault(dir: &Path, file: &Path, inputs: &Inputs, truth: &[String]) -> Judge {
    let mut judge = Judge::new(file);
    if let Some(out) = judge.ran("verify", &run(dir, &["log", "verify"])) {
        let damage = out.contains("\"damage\":true");
        judge.expect("verify", !damage, || {
            format!("exit 0 but reports damage: {out}")
        });
    }
    for (topic, expected) in TOPICS.iter().zip(truth) {
        if let Some(out) = judge.ran(&format!("consume {topic}"), &consume(dir, topic)) {
            judge.expect(&format!("consume {topic}"), &out == expected, || {
                format!(
                    "{} lines, expected {}",
                    out.lines().count(),
                    expected.lines().count()
                )
            });
        }
    }
    let check = [
        "run",
        "check",
        "--input",
        "transfers",
        "--output",
        "balances",
        "--audit",
        "applied",
    ];
    let before = TRANSFERS_FIRST + TRANSFERS_SECOND;
    if let Some(out) = judge.ran("check", &run(dir, &check)) {
        judge.expect("check", check_accepts(&out, before), || out.clone());
    }
    resume_producer(dir, inputs, &mut judge);
    next_transaction(dir, inputs, &mut judge);
    more_input_and_job(dir, &check, &truth[2], &mut judge);
    judge
}

fn resume_producer(dir: &Path, inputs: &Inputs, judge: &mut Judge) {
    let payments = path_str(&inputs.payments_after);
    let args = [
        "log",
        "produce",
        "--topic",
        "payments",
        "--producer-id",
        "7",
    ];
    let args: Vec<&str> = args
        .into_iter()
        .chain(PRODUCE_OPTIONS)
        .chain(["--input", payments])
        .collect();
    if judge.ran("produce resume", &run(dir, &args)).is_none() {
        return;
    }
    if let Some(out) = judge.ran("consume payments after", &consume(dir, "payments")) {
        let mut got = values(&out);
        got.sort();
        let mut want: Vec<String> = (0..PAYMENTS_AFTER).map(|i| format!("pay-{i}")).collect();
        want.sort();
        judge.expect("payments after resume", got == want, || {
            format!("{} values, expected {} distinct", got.len(), want.len())
        });
    }
}

fn next_transaction(dir: &Path, inputs: &Inputs, judge: &mut Judge) {
    let args = ["log", "txn", "--transactional-id", "t1", "--input"];
    let mut args = args.to_vec();
    args.push(path_str(&inputs.ledger[3]));
    if judge.ran("txn d", &run(dir, &args)).is_none() {
        return;
    }
    if let Some(out) = judge.ran("consume ledger after", &consume(dir, "ledger")) {
        let got = values(&out);
        let want: Vec<String> = [("a", 30), ("c", 25), ("d", 10)]
            .iter()
            .flat_map(|(tag, n)| (0..*n).map(move |i| format!("{tag}-{i}")))
            .collect();
        judge.expect("ledger after txn", got == want, || format!("{got:?}"));
    }
}

fn more_input_and_job(dir: &Path, check: &[&str], transfers_truth: &str, judge: &mut Judge) {
    let count = TRANSFERS_AFTER.to_string();
    let args = [
        "gen",
        "transfers",
        "--topic",
        "transfers",
        "--count",
        &count,
    ];
    let args: Vec<&str> = args.into_iter().chain(["--accounts", ACCOUNTS]).collect();
    if judge.ran("gen more", &run(dir, &args)).is_none() {
        return;
    }
    if let Some(out) = judge.ran("consume transfers after", &consume(dir, "transfers")) {
        let total = out.lines().count() as u64;
        let kept = transfers_truth.lines().all(|l| out.contains(l));
        let want = TRANSFERS_FIRST + TRANSFERS_SECOND + TRANSFERS_AFTER;
        judge.expect("transfers after gen", kept && total == want, || {
            format!("{total} records (expected {want}), old ones kept: {kept}")
        });
    }
    if judge.ran("job again", &balances_job(dir)).is_none() {
        return;
    }
    let all = TRANSFERS_FIRST + TRANSFERS_SECOND + TRANSFERS_AFTER;
    if let Some(out) = judge.ran("check after", &run(dir, check)) {
        judge.expect("check after job", check_accepts(&out, all), || out.clone());
    }
}

#[test]
fn every_fault_in_every_file_is_repaired_or_refused_never_silent() {
    let (seed, samples, mut rng) = seed_and_samples(1);
    let temp = tempfile::tempdir().unwrap();
    let inputs = write_inputs(temp.path());
    let template = temp.path().join("template");
    build(&template, &inputs);
    let truth: Vec<String> = TOPICS
        .iter()
        .map(|t| {
            must(
                &template,
                &[
                    "log",
                    "consume",
                    "--topic",
                    t,
                    "--isolation",
                    "read-committed",
                ],
            )
        })
        .collect();
    let scratch = temp.path().join("faulted");
    sweep(&template, &scratch, seed, samples, &mut rng, |dir, file| {
        judge_fault(dir, file, &inputs, &truth)
    });
}
