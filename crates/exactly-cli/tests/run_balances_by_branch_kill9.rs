//! A real `kill -9` loop of `exactly run balances-by-branch`: the whole process (both
//! stages' threads) is SIGKILLed at random moments, ≥ 30 times landing mid-run
//! (`EXACTLY_KILLS` for more, `EXACTLY_SEED` to replay; both printed). More transfers are
//! generated before every second run; parallelism cycles through 1, 2 and 3 and the sink
//! mode switches every two runs, so restores also rescale and change sink modes. Then a
//! final run to completion, and the independent oracle (`branch_oracle`) must find every
//! branch total exact, every account's change on the repartition topic exactly once (no
//! sequence twice, none missing, balances chaining), and stage 1's balances agreeing with
//! what stage 2 summed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::branch_oracle;
use crate::kill_common;
use crate::run_common;

use kill_common::{exactly, kill_loop};
use rand::Rng;
use run_common::{gen_transfers_over, sink_of_run};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const ACCOUNTS: u32 = 400;
const BRANCHES: u64 = 5;

fn pipeline_command(dir: &Path, parallelism: u32, sink: &str) -> Command {
    let mut command = exactly(
        &[
            "run",
            "balances-by-branch",
            "--input",
            "transfers",
            "--output",
            "branch-totals",
            "--branches",
            &BRANCHES.to_string(),
            "--checkpoint-interval-ms",
            "5",
        ],
        dir,
    );
    command
        .args(["--parallelism", &parallelism.to_string(), "--sink", sink])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

#[test]
fn balances_by_branch_killed_with_sigkill_ends_exactly_once() {
    let (kills, seed) = exactly_testkit::cli::kills_and_seed(30);
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("log");
    gen_transfers_over(&dir, ACCOUNTS, 100_000, seed);
    let mut runs = 0u32;
    let (landed, total_runs) = kill_loop(
        kills,
        seed,
        6,
        || {
            runs += 1;
            if runs.is_multiple_of(2) {
                let more_seed = seed.wrapping_add(u64::from(runs));
                gen_transfers_over(&dir, ACCOUNTS, 40_000, more_seed);
            }
            pipeline_command(&dir, 1 + runs % 3, sink_of_run(runs))
        },
        |rng| Duration::from_millis(rng.random_range(2..60)),
    );
    println!("{landed} kills landed in {total_runs} runs");
    assert!(
        landed >= kills,
        "only {landed} of {kills} kills landed mid-run (seed {seed})"
    );

    let last = pipeline_command(&dir, 2, "transactional")
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let error = String::from_utf8_lossy(&last.stderr);
    assert!(
        last.status.success(),
        "the final run failed (seed {seed}): {error}"
    );
    let check = branch_oracle::assert_exact(&dir, "transfers", "branch-totals", BRANCHES);
    println!("{check:?}");
    assert_eq!(check.branches, BRANCHES as usize, "seed {seed}");
}
