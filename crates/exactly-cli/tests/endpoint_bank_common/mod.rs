//! Shared by the bank's kill -9 tests: run `exactly endpoint bank` and assert its audit.
#![allow(dead_code)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::kill_common::exactly;

/// Runs the bank on `store` with `transfers` transfers (10% duplicated) in transactions of
/// `batch` messages, SIGKILLs every ~80 ms until `kills` landed, and asserts every
/// invariant of the audit. Small batches keep the endpoints busy while the kills land.
pub fn run_bank_and_assert(store: &str, transfers: u64, batch: usize, kills: u32, seed: u64) {
    run_bank_on_and_assert(store, "embedded", transfers, batch, kills, seed);
}

/// [`run_bank_and_assert`] with the messages carried by `transport` (`embedded` or
/// `nats://…`); returns the report.
pub fn run_bank_on_and_assert(
    store: &str,
    transport: &str,
    transfers: u64,
    batch: usize,
    kills: u32,
    seed: u64,
) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let (transfers_arg, kills_arg, seed_arg) =
        (transfers.to_string(), kills.to_string(), seed.to_string());
    let batch_arg = batch.to_string();
    let args = [
        "endpoint",
        "bank",
        "--store",
        store,
        "--transport",
        transport,
        "--transfers",
        &transfers_arg,
        "--dup",
        "0.1",
        "--kill-every",
        "80",
        "--kills",
        &kills_arg,
        "--seed",
        &seed_arg,
        "--batch",
        &batch_arg,
        "--json",
    ];
    let output = exactly(&args, dir.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "seed {seed}: {stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let context = format!("seed {seed} (replay with EXACTLY_SEED={seed}): {report}");
    assert_eq!(report["ok"], true, "{context}");
    assert!(
        report["kills"].as_u64().unwrap() >= u64::from(kills),
        "{context}"
    );
    assert_audit_exact(&report, transfers, &context);
    println!("{report}");
    report
}

/// The audit's invariants: every transfer debited and credited exactly once, no credit
/// without its debit, money conserved, every bad message dead-lettered once.
pub fn assert_audit_exact(report: &serde_json::Value, transfers: u64, context: &str) {
    assert_eq!(report["debited_once"], transfers, "{context}");
    assert_eq!(report["credited_once"], transfers, "{context}");
    assert_eq!(report["credits_without_debit"], 0, "{context}");
    assert_eq!(report["money_before"], report["money_after"], "{context}");
    assert_eq!(
        report["dead_letters"], report["dead_letters_expected"],
        "{context}"
    );
}

/// [`assert_audit_exact`] for a run on NATS: also no child failed and `accounts-b`'s inbox
/// dropped no copy (the credits stream held each credit once).
pub fn assert_nats_audit_exact(report: &serde_json::Value, transfers: u64, context: &str) {
    assert_eq!(report["ok"], true, "{context}");
    assert_eq!(report["transport"], "nats", "{context}");
    assert_eq!(report["child_failures"], serde_json::json!([]), "{context}");
    assert_eq!(report["copies_dropped_b"], 0, "{context}");
    assert_audit_exact(report, transfers, context);
}
