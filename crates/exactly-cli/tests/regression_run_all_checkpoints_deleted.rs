//! Regression: deleting every checkpoint of an exactly-once job made the next run start
//! from scratch and apply the whole input again (all balances doubled), exiting 0.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::run_common;

use run_common::{
    checkpoint_files, gen_transfers, last_balances, reference_balances, run_balances, stderr,
};

#[test]
fn all_checkpoints_deleted_then_run_refuses_and_outputs_stay_exact() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("log");
    gen_transfers(&dir, 3_000, 7);
    let output = run_balances(&dir, "balances", &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    for file in checkpoint_files(&dir, "balances") {
        std::fs::remove_file(file).unwrap();
    }

    let output = run_balances(&dir, "balances", &[]);
    let message = stderr(&output);
    assert!(
        !output.status.success(),
        "a run without its checkpoints must fail"
    );
    assert!(message.contains("checkpoint"), "{message}");
    let (reference, _) = reference_balances(&dir, "transfers");
    assert_eq!(
        last_balances(&dir, "balances"),
        reference,
        "nothing applied twice"
    );
}
