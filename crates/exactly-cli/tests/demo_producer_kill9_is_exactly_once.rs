//! `exactly demo producer` (now driven by the testkit's kill loop): the idempotent
//! producer is killed and resumed; every record is in the log exactly once, and the
//! report's counts add up.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::process::{Command, Stdio};

#[test]
fn producer_demo_holds_every_record_once() {
    let seed = exactly_testkit::cli::seed_from_env();
    println!("seed {seed}");
    let output = Command::new(env!("CARGO_BIN_EXE_exactly"))
        .args(["demo", "producer", "--records", "200000", "--kills", "2"])
        .args(["--seed", &seed.to_string(), "--json"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "seed {seed}: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(report["exactly_once"], true, "seed {seed}: {report}");
    assert_eq!(report["stored"], 200_000, "seed {seed}: {report}");
    assert_eq!(report["missing"], 0, "seed {seed}: {report}");
    assert_eq!(report["duplicated"], 0, "seed {seed}: {report}");
    let runs = report["producer_runs"].as_u64().unwrap();
    let kills = report["sigkills"].as_u64().unwrap();
    assert!(kills <= 2 && runs == kills + 1, "seed {seed}: {report}");
    let last = report["appended_by_last_run"].as_u64().unwrap()
        + report["deduplicated_by_last_run"].as_u64().unwrap();
    assert!(last <= 200_000, "seed {seed}: {report}");
}
