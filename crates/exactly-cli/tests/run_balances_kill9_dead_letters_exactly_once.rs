//! A `kill -9` loop of `exactly run balances` over input that mixes transfers with records
//! that are not transfers: every bad record must end up in the dead-letter topic exactly
//! once (written in the same transaction / write-ahead manifest as the outputs of the
//! checkpoint that consumed it), and the balances exactly once, whatever the kills hit.
//! Sink mode and parallelism change between runs. `EXACTLY_KILLS` (default 20) and
//! `EXACTLY_SEED` as in the other kill tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::kill_common;
use crate::run_common;

use kill_common::kill_loop;
use rand::Rng;
use run_common::{
    append_keyed, balances_command, consume, gen_transfers, last_balances, reference_balances,
};
use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

fn run_command(dir: &std::path::Path, parallelism: u32, sink: &str) -> Command {
    balances_command(dir, &["--checkpoint-interval-ms", "15"], parallelism, sink)
}

#[test]
fn balances_with_bad_input_killed_with_sigkill_dead_letters_each_once() {
    let (kills, seed) = exactly_testkit::cli::kills_and_seed(20);
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("log");
    let mut runs = 0u32;
    let mut junk = 0u64;
    let mut add_input = |runs: u32| {
        gen_transfers(&dir, 10_000, seed.wrapping_add(u64::from(runs)));
        let bad: Vec<(String, String)> = (0..40)
            .map(|i| {
                junk += 1;
                (
                    format!("junk-{runs}-{i}"),
                    format!("not a transfer #{junk}"),
                )
            })
            .collect();
        append_keyed(&dir, "transfers", &bad);
    };
    add_input(0);
    let (landed, total) = kill_loop(
        kills,
        seed,
        6,
        || {
            runs += 1;
            add_input(runs);
            let sink = if runs.is_multiple_of(2) {
                "transactional"
            } else {
                "idempotent"
            };
            run_command(&dir, 1 + runs % 3, sink)
        },
        |rng| Duration::from_millis(rng.random_range(3..80)),
    );
    println!("{landed} kills landed in {total} runs");
    assert!(
        landed >= kills,
        "only {landed} of {kills} kills landed (seed {seed})"
    );
    let last = run_command(&dir, 2, "transactional").status().unwrap();
    assert!(last.success(), "the final run failed (seed {seed})");

    let (reference, bad) = reference_balances(&dir, "transfers");
    assert_eq!(last_balances(&dir, "balances"), reference, "seed {seed}");
    let mut copies: BTreeMap<(u64, u64), u64> = BTreeMap::new();
    for letter in consume(&dir, "balances.dead-letters") {
        let v: serde_json::Value = serde_json::from_str(&letter.value).unwrap();
        let source = (
            v["partition"].as_u64().unwrap(),
            v["offset"].as_u64().unwrap(),
        );
        *copies.entry(source).or_insert(0) += 1;
    }
    let expected: BTreeMap<(u64, u64), u64> = bad.iter().map(|s| (*s, 1)).collect();
    assert_eq!(bad.len() as u64, junk, "seed {seed}");
    assert_eq!(
        copies, expected,
        "each bad record dead-lettered once (seed {seed})"
    );
}
