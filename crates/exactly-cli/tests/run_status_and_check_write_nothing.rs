//! `run status` and `run check` only read: the log directory, `.jobs/` included, is byte
//! for byte the same after them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::run_common;

use run_common::{gen_transfers, run, run_balances, stderr, tree};

#[test]
fn status_and_check_leave_the_directory_untouched() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("log");
    gen_transfers(&dir, 500, 9);
    let output = run_balances(&dir, "balances", &["--audit", "applied"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let before = tree(&dir);
    let status = run(&["run", "status", "--job", "balances"], &dir);
    assert!(status.status.success(), "{}", stderr(&status));
    let check = run(
        &[
            "run",
            "check",
            "--input",
            "transfers",
            "--output",
            "balances",
            "--audit",
            "applied",
        ],
        &dir,
    );
    assert!(check.status.success(), "{}", stderr(&check));
    // A status of a job that never ran must not create its directory either.
    let missing = run(&["run", "status", "--job", "never-ran"], &dir);
    assert!(!missing.status.success());
    let after = tree(&dir);
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>(),
        "files added or removed"
    );
    assert!(before == after, "a file changed");
}
