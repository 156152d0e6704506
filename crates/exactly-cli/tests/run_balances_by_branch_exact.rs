//! One clean run of `exactly run balances-by-branch` (parallelism 2, 7 branches): every
//! branch total equals the independent oracle's, and every account's changes crossed the
//! hop exactly once (`branch_oracle`). A second run over the same input restores both
//! stages' checkpoints and changes nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::branch_oracle;
use crate::run_common;

use run_common::{exactly, gen_transfers_over, stderr, stdout};
use std::path::Path;

const BRANCHES: u64 = 7;

fn run_pipeline(dir: &Path) -> serde_json::Value {
    let output = exactly(
        &[
            "run",
            "balances-by-branch",
            "--input",
            "transfers",
            "--output",
            "branch-totals",
            "--branches",
            &BRANCHES.to_string(),
            "--parallelism",
            "2",
            "--checkpoint-interval-ms",
            "10",
            "--json",
        ],
        dir,
    )
    .output()
    .unwrap();
    assert!(output.status.success(), "run: {}", stderr(&output));
    serde_json::from_str(stdout(&output).trim()).unwrap()
}

#[test]
fn balances_by_branch_clean_run_matches_the_oracle() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("log");
    gen_transfers_over(&dir, 300, 60_000, 7);
    let summary = run_pipeline(&dir);
    println!("{summary}");
    assert_eq!(summary["records_in"], 60_000);
    assert_eq!(summary["stages"][0]["job"], "balances-by-branch_accounts");
    assert_eq!(summary["stages"][1]["job"], "balances-by-branch_branches");
    let check = branch_oracle::assert_exact(&dir, "transfers", "branch-totals", BRANCHES);
    println!("{check:?}");
    assert_eq!(check.accounts, 300);
    assert_eq!(check.branches, BRANCHES as usize);

    let again = run_pipeline(&dir);
    assert_eq!(again["stages"][0]["records_in"], 0, "{again}");
    assert_eq!(again["stages"][1]["records_in"], 0, "{again}");
    let recheck = branch_oracle::assert_exact(&dir, "transfers", "branch-totals", BRANCHES);
    assert_eq!(recheck.hop_records, check.hop_records);
}
