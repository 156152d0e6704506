//! `exactly demo` (now driven by the testkit's kill loop): each guarantee is killed the
//! asked number of times and restarted; the exactly-once run is audited exact, the
//! at-most-once run never repeats, money is conserved everywhere.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::process::{Command, Stdio};

#[test]
fn demo_rows_report_the_kills_and_exactly_once_is_exact() {
    let seed = exactly_testkit::cli::seed_from_env();
    println!("seed {seed}");
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_exactly"))
        .args(["demo", "--transfers", "200000", "--accounts", "500"])
        .args(["--kills", "2", "--parallelism", "1", "--json"])
        .args(["--seed", &seed.to_string()])
        .arg("--dir")
        .arg(dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "seed {seed}: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 3, "{stdout}");
    for row in &rows {
        let runs = row["runs"].as_u64().unwrap();
        let crashes = row["crashes"].as_u64().unwrap();
        // Each kill is followed by a run; a run that ends before its kill moment ends it.
        assert!(crashes <= 2 && runs == crashes + 1, "seed {seed}: {row}");
        assert_eq!(row["money_total"], 0, "seed {seed}: {row}");
        assert_eq!(row["transfers"], 200_000, "seed {seed}: {row}");
    }
    let exactly = rows
        .iter()
        .find(|r| r["guarantee"] == "exactly-once")
        .unwrap();
    assert_eq!(exactly["exactly_once"], true, "seed {seed}: {exactly}");
    assert_eq!(exactly["accounts_wrong"], 0, "seed {seed}: {exactly}");
    assert_eq!(exactly["r"], 1.0, "seed {seed}: {exactly}");
    assert_eq!(exactly["ur"], 1.0, "seed {seed}: {exactly}");
    let at_most = rows
        .iter()
        .find(|r| r["guarantee"] == "at-most-once")
        .unwrap();
    assert_eq!(at_most["ur"], 1.0, "seed {seed}: {at_most}");
}
