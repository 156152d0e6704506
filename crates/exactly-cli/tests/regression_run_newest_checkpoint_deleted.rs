//! Regression: deleting the newest checkpoint of an exactly-once job made the next run
//! restore an older one and apply the input after it a second time (every balance it
//! touched doubled), exiting 0. The log holds the job's record of every committed
//! checkpoint, so recovery now sees that outputs past the restored checkpoint are already
//! committed and refuses.
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
fn newest_checkpoint_deleted_then_run_refuses_and_outputs_stay_exact() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("log");
    for round in 0..3 {
        gen_transfers(&dir, 2_000, round);
        let output = run_balances(&dir, "balances", &[]);
        assert!(output.status.success(), "{}", stderr(&output));
    }
    let files = checkpoint_files(&dir, "balances");
    assert!(files.len() >= 2, "{files:?}");
    std::fs::remove_file(files.last().unwrap()).unwrap();

    let output = run_balances(&dir, "balances", &[]);
    let message = stderr(&output);
    assert!(
        !output.status.success(),
        "a run past a deleted checkpoint must fail"
    );
    assert!(message.contains("checkpoint"), "{message}");
    let (reference, _) = reference_balances(&dir, "transfers");
    assert_eq!(
        last_balances(&dir, "balances"),
        reference,
        "nothing applied twice"
    );
}
