//! A `run balances --follow` job used to open the log with its exclusive lock for its whole
//! life: while it ran, `gen transfers` / `log produce` on the same directory failed with
//! "locked", so a follower could never be fed. The job now owns only what it writes and
//! follows its input read-only. Here input is added in several rounds while the follow job
//! runs; the job is killed with SIGKILL mid-round several times and restarted; in the last
//! round it must pick the new input up while still following, and `run check` must find
//! the balances exact with R = UR = 1 from the audit.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::kill_common;
use crate::run_oracle;

use kill_common::exactly;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const ROUNDS: u64 = 6;
const PER_ROUND: u64 = 3_000;

fn gen(dir: &Path, count: u64, seed: u64) {
    let output = exactly(
        &[
            "gen",
            "transfers",
            "--topic",
            "transfers",
            "--partitions",
            "3",
            "--accounts",
            "300",
        ],
        dir,
    )
    .args(["--count", &count.to_string(), "--seed", &seed.to_string()])
    .output()
    .unwrap();
    assert!(
        output.status.success(),
        "gen transfers while the follow job runs: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn start_follow_job(dir: &Path, stderr_file: &Path) -> Child {
    exactly(
        &[
            "run",
            "balances",
            "--input",
            "transfers",
            "--output",
            "balances",
            "--audit",
            "applied",
            "--follow",
            "--checkpoint-interval-ms",
            "10",
        ],
        dir,
    )
    .stdout(Stdio::null())
    .stderr(std::fs::File::create(stderr_file).unwrap())
    .spawn()
    .unwrap()
}

/// `run check` (read-only: it runs beside the job) as JSON.
fn check(dir: &Path) -> serde_json::Value {
    let output = exactly(
        &[
            "run",
            "check",
            "--input",
            "transfers",
            "--output",
            "balances",
            "--audit",
            "applied",
            "--json",
        ],
        dir,
    )
    .output()
    .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(text.trim()).unwrap_or(serde_json::Value::Null)
}

fn exact(report: &serde_json::Value) -> bool {
    report["accounts_wrong"] == 0
        && report["money_total"] == 0
        && report["r"] == 1.0
        && report["ur"] == 1.0
}

fn assert_still_running(child: &mut Child, stderr_file: &Path, seed: u64) {
    if let Some(status) = child.try_wait().unwrap() {
        panic!(
            "seed {seed}: the follow job exited ({status}): {}",
            std::fs::read_to_string(stderr_file).unwrap_or_default()
        );
    }
}

#[test]
fn follow_job_picks_up_input_added_while_it_runs_even_across_kills() {
    let seed: u64 = std::env::var("EXACTLY_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    println!("seed {seed}");
    let mut rng = SmallRng::seed_from_u64(seed);
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("log");
    let stderr_file = temp.path().join("job.stderr");
    gen(&dir, PER_ROUND, seed);
    let mut kills = 0;
    for round in 1..=ROUNDS {
        let mut job = start_follow_job(&dir, &stderr_file);
        // Let the job open the log (and hold whatever it locks) before adding input.
        std::thread::sleep(Duration::from_millis(rng.random_range(20..80)));
        assert_still_running(&mut job, &stderr_file, seed);
        gen(&dir, PER_ROUND, seed.wrapping_add(round));
        if round < ROUNDS {
            std::thread::sleep(Duration::from_millis(rng.random_range(0..60)));
            assert_still_running(&mut job, &stderr_file, seed);
            job.kill().unwrap(); // SIGKILL
            job.wait().unwrap();
            kills += 1;
            continue;
        }
        // Last round: the running follower must catch up with everything added.
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut report = check(&dir);
        while !exact(&report) {
            assert!(
                Instant::now() < deadline,
                "seed {seed}: the follow job never caught up: {report}"
            );
            assert_still_running(&mut job, &stderr_file, seed);
            std::thread::sleep(Duration::from_millis(50));
            report = check(&dir);
        }
        println!("caught up while following: {report}");
        assert_eq!(
            report["transfers"],
            PER_ROUND * (ROUNDS + 1),
            "seed {seed}: every generated transfer is in the input"
        );
        job.kill().unwrap();
        job.wait().unwrap();
    }
    println!("{kills} kills");
    let report = check(&dir);
    assert!(exact(&report), "seed {seed}: {report}");
    // The same, by an independent reader.
    run_oracle::assert_balances_exactly_once(&dir, "transfers", "balances", Some("applied"));
}
