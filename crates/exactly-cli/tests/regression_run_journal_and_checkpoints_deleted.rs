//! Regression (defence in depth for deleted checkpoints): even with the job's journal
//! topic deleted as well, the log and the job's files still show that effects past the
//! restored checkpoint were committed — committed transactions of the job, its idempotent
//! producer's sequences in the output, `status.json` — and the run is refused instead of
//! applying the input twice.
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
use std::path::Path;

fn refused_and_exact(dir: &Path, case: &str) {
    let output = run_balances(dir, "balances", &[]);
    let message = stderr(&output);
    assert!(!output.status.success(), "{case}: the run must be refused");
    assert!(message.contains("checkpoint"), "{case}: {message}");
    let (reference, _) = reference_balances(dir, "transfers");
    assert_eq!(
        last_balances(dir, "balances"),
        reference,
        "{case}: applied twice"
    );
}

#[test]
fn journal_and_checkpoints_deleted_then_run_still_refuses() {
    for sink in ["transactional", "idempotent"] {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("log");
        gen_transfers(&dir, 2_000, 31);
        let output = run_balances(&dir, "balances", &["--sink", sink]);
        assert!(output.status.success(), "{}", stderr(&output));
        std::fs::remove_dir_all(dir.join(".jobs")).unwrap();
        std::fs::remove_dir_all(dir.join("exactly.job.balances")).unwrap();
        refused_and_exact(&dir, &format!("{sink}: .jobs and journal deleted"));
    }

    // Newest checkpoint and journal deleted, status.json kept.
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("log");
    for round in 0..2 {
        gen_transfers(&dir, 1_000, round);
        let output = run_balances(&dir, "balances", &[]);
        assert!(output.status.success(), "{}", stderr(&output));
    }
    std::fs::remove_file(checkpoint_files(&dir, "balances").pop().unwrap()).unwrap();
    std::fs::remove_dir_all(dir.join("exactly.job.balances")).unwrap();
    refused_and_exact(&dir, "newest checkpoint and journal deleted");
}
