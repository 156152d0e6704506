//! The bank under real SIGKILLs with both endpoint stores in PostgreSQL
//! (`EXACTLY_PG_URL`, default the local `test` database): same audit as the embedded run,
//! fewer kills (each restart reconnects and waits for the dead session's advisory lock).
//! Skipped with a reason when PostgreSQL is unreachable, unless
//! `EXACTLY_REQUIRE_SERVICES=1`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod kill_common;

use kill_common::{exactly, kills_and_seed};

#[test]
fn bank_on_postgres_under_kill9_then_every_transfer_exactly_once() {
    let url = std::env::var("EXACTLY_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    if let Err(error) = postgres::Client::connect(&url, postgres::NoTls) {
        if std::env::var("EXACTLY_REQUIRE_SERVICES").as_deref() == Ok("1") {
            panic!("PostgreSQL at {url} is required but unreachable: {error}");
        }
        println!("SKIPPED: PostgreSQL at {url} unreachable ({error})");
        return;
    }
    let (kills, seed) = kills_and_seed();
    let kills = (kills / 2).max(1);
    let dir = tempfile::tempdir().unwrap();
    let (kills_arg, seed_arg) = (kills.to_string(), seed.to_string());
    let args = [
        "endpoint",
        "bank",
        "--store",
        &url,
        "--transfers",
        "10000",
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
    assert_eq!(report["credited_once"], 10000, "seed {seed}: {report}");
    assert_eq!(
        report["money_before"], report["money_after"],
        "seed {seed}: {report}"
    );
}
