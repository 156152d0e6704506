//! `run check` without `--audit` measures no R and UR: it must print them as absent
//! (`null`), not as a value (it used to print `"r":0.0`… or 1.0, either a lie).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::run_common;

use run_common::{gen_transfers, run, run_balances, stderr, stdout};

#[test]
fn check_without_audit_prints_r_and_ur_as_null() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("log");
    gen_transfers(&dir, 500, 3);
    let output = run_balances(&dir, "balances", &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = run(
        &[
            "run",
            "check",
            "--input",
            "transfers",
            "--output",
            "balances",
        ],
        &dir,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let check: serde_json::Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert!(check["r"].is_null(), "{check}");
    assert!(check["ur"].is_null(), "{check}");
    assert_eq!(check["accounts_wrong"], 0, "{check}");
}
