//! A real `kill -9` loop of `exactly run balances --log nats://…`: input, outputs, audit
//! and journal are topics on JetStream (our own nats-server, `sync_interval: always`),
//! checkpoints local. More transfers are published before every run, the job is killed
//! with SIGKILL at a random moment until ≥ 30 kills landed mid-run (`EXACTLY_NATS_KILLS`
//! for more; the runs `--follow` their input, so each kill lands while the job runs),
//! parallelism cycling 1–3 — each restart recovers from its newest manifest and
//! republishes that manifest's outputs after what the output streams already hold. Then
//! it runs to the end of its input, and the oracle (`nats_run_common`) finds every
//! balance equal to the sums the test computes from the input, every transfer applied
//! exactly once, and no duplicate or gap among the outputs' lineage ids.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::kill_common;
use crate::nats_run_common;

use kill_common::kill_loop;
use nats_run_common::{assert_balances_exactly_once, gen, run_balances, server};
use rand::Rng;
use std::process::Stdio;
use std::time::Duration;

#[test]
fn balances_on_nats_killed_with_sigkill_ends_exactly_once() {
    let temp = tempfile::tempdir().unwrap();
    let Some(server) = server(&temp.path().join("nats")) else {
        return;
    };
    let url = server.url();
    let (kills, seed) = exactly_testkit::cli::nats_kills_and_seed(30);
    let dir = temp.path().join("state");
    gen(&url, 10_000, seed);
    let mut runs = 0u32;
    let (landed, total_runs) = kill_loop(
        kills,
        seed,
        6,
        || {
            runs += 1;
            gen(&url, 2_000, seed.wrapping_add(u64::from(runs)));
            let mut command = run_balances(&url, &dir, 1 + runs % 3);
            // `--follow`: the run never ends by itself, so every kill lands mid-run however
            // fast the machine reads the 2 000 new transfers.
            command
                .arg("--follow")
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            command
        },
        |rng| Duration::from_millis(rng.random_range(30..400)),
    );
    println!("{landed} kills landed in {total_runs} runs");
    assert!(
        landed >= kills,
        "only {landed} of {kills} kills landed mid-run (seed {seed})"
    );
    let last = run_balances(&url, &dir, 2).output().unwrap();
    assert!(
        last.status.success(),
        "the final run failed (seed {seed}): {}",
        String::from_utf8_lossy(&last.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_slice(last.stdout.trim_ascii()).expect("one JSON summary line");
    println!("final run: {summary}");
    let transfers = assert_balances_exactly_once(&url);
    assert_eq!(
        transfers,
        10_000 + 2_000 * u64::from(total_runs),
        "input (seed {seed})"
    );
}
