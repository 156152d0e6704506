//! Regression: deleting the log's `.jobs/` directory (every job's checkpoints and status)
//! made an exactly-once job start from scratch and apply its whole input again, exiting 0.
//! The evidence must come from the log itself.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::run_common;

use run_common::{gen_transfers, last_balances, reference_balances, run_balances, stderr};

#[test]
fn jobs_dir_deleted_then_run_refuses_and_outputs_stay_exact() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("log");
    gen_transfers(&dir, 3_000, 11);
    let output = run_balances(&dir, "balances", &["--sink", "idempotent"]);
    assert!(output.status.success(), "{}", stderr(&output));
    std::fs::remove_dir_all(dir.join(".jobs")).unwrap();

    let output = run_balances(&dir, "balances", &[]);
    let message = stderr(&output);
    assert!(
        !output.status.success(),
        "a run without its state must fail"
    );
    assert!(message.contains("checkpoint"), "{message}");
    let (reference, _) = reference_balances(&dir, "transfers");
    assert_eq!(
        last_balances(&dir, "balances"),
        reference,
        "nothing applied twice"
    );
}
