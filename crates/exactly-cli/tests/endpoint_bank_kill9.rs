//! The bank under real SIGKILLs: `exactly endpoint bank` runs `accounts-a` and
//! `accounts-b` as child processes of the binary, kills them at random moments
//! (`EXACTLY_KILLS`, default 50) while transfers with duplicates and bad messages are fed,
//! restarts them, and audits. Every transfer must be debited and credited exactly once,
//! money conserved, no credit without its debit, every bad message dead-lettered.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod kill_common;

use kill_common::{exactly, kills_and_seed};

#[test]
fn bank_under_kill9_then_every_transfer_exactly_once() {
    let (kills, seed) = kills_and_seed();
    let dir = tempfile::tempdir().unwrap();
    let (kills_arg, seed_arg) = (kills.to_string(), seed.to_string());
    let args = [
        "endpoint",
        "bank",
        "--store",
        "embedded",
        "--transfers",
        "20000",
        "--dup",
        "0.1",
        "--kill-every",
        "80",
        "--kills",
        &kills_arg,
        "--seed",
        &seed_arg,
        "--json",
    ];
    let output = exactly(&args, dir.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "seed {seed}: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(report["ok"], true, "seed {seed}: {report}");
    assert!(
        report["kills"].as_u64().unwrap() >= u64::from(kills),
        "seed {seed}: {report}"
    );
    assert_eq!(report["debited_once"], 20000, "seed {seed}: {report}");
    assert_eq!(report["credited_once"], 20000, "seed {seed}: {report}");
    assert_eq!(report["credits_without_debit"], 0, "seed {seed}: {report}");
    assert_eq!(
        report["money_before"], report["money_after"],
        "seed {seed}: {report}"
    );
    assert_eq!(
        report["dead_letters"], report["dead_letters_expected"],
        "seed {seed}: {report}"
    );
}
