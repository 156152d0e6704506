//! A real `kill -9` loop of `exactly run balances --guarantee exactly-once`: before every
//! run more transfers are generated (so each run has work), the job is started with the
//! same command — its parallelism cycling through 1, 2 and 3, so restores also rescale, and
//! its sink switching between transactional and idempotent every two runs — and killed with SIGKILL at a random moment, ≥ 50 times mid-run (`EXACTLY_KILLS` for
//! more). Then it runs to the end of its input, and `exactly run check` must find every
//! account's balance equal to the reference computed from the input, money conserved, and
//! the audit written in the same transactions showing R = 1 and UR = 1 — and so must an
//! independent reader of the log (`run_oracle`), so the product's checker is not trusted
//! alone.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::kill_common;
use crate::run_common;
use crate::run_oracle;

use kill_common::{exactly, kill_loop, kills_and_seed};
use rand::Rng;
use run_common::{balances_command, gen_transfers_over, sink_of_run};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const ACCOUNTS: u32 = 500;

fn run_command(dir: &Path, parallelism: u32, sink: &str) -> Command {
    let extra = [
        "--audit",
        "applied",
        "--guarantee",
        "exactly-once",
        "--checkpoint-interval-ms",
        "20",
    ];
    balances_command(dir, &extra, parallelism, sink)
}

#[test]
fn balances_killed_with_sigkill_ends_exactly_once() {
    let (kills, seed) = kills_and_seed();
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("log");
    gen_transfers_over(&dir, ACCOUNTS, 50_000, seed);
    let mut runs = 0u32;
    let (landed, total_runs) = kill_loop(
        kills,
        seed,
        6,
        || {
            runs += 1;
            gen_transfers_over(&dir, ACCOUNTS, 20_000, seed.wrapping_add(u64::from(runs)));
            run_command(&dir, 1 + runs % 3, sink_of_run(runs))
        },
        |rng| Duration::from_millis(rng.random_range(3..80)),
    );
    println!("{landed} kills landed in {total_runs} runs");
    assert!(
        landed >= kills,
        "only {landed} of {kills} kills landed mid-run (seed {seed})"
    );

    let last = run_command(&dir, 2, "transactional").status().unwrap();
    assert!(last.success(), "the final run failed (seed {seed})");
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
        ],
        &dir,
    )
    .output()
    .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    println!("{report}");
    let check: serde_json::Value = serde_json::from_str(report.trim()).unwrap();
    assert_eq!(check["accounts_wrong"], 0, "seed {seed}: {report}");
    assert_eq!(check["money_total"], 0, "seed {seed}: {report}");
    assert_eq!(check["r"], 1.0, "seed {seed}: {report}");
    assert_eq!(check["ur"], 1.0, "seed {seed}: {report}");
    assert!(output.status.success(), "seed {seed}: {report}");
    // The same, by an independent reader.
    run_oracle::assert_balances_exactly_once(&dir, "transfers", "balances", Some("applied"));
}
