//! Regression: an at-least-once job whose newest checkpoint file was damaged restored the
//! one before (allowed: at-least-once may repeat outputs) but then could never checkpoint
//! again: every rerun appended duplicates and failed "checkpoint id 4 is not newer than 4".
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
fn at_least_once_with_damaged_newest_checkpoint_keeps_making_progress() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("log");
    let alo = ["--guarantee", "at-least-once"];
    for round in 0..2 {
        gen_transfers(&dir, 2_000, round);
        let output = run_balances(&dir, "balances", &alo);
        assert!(output.status.success(), "{}", stderr(&output));
    }
    let newest = checkpoint_files(&dir, "balances").pop().unwrap();
    let mut bytes = std::fs::read(&newest).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&newest, bytes).unwrap();

    for round in 2..5 {
        gen_transfers(&dir, 1_000, round);
        let output = run_balances(&dir, "balances", &alo);
        assert!(output.status.success(), "run {round}: {}", stderr(&output));
    }
    let (reference, _) = reference_balances(&dir, "transfers");
    assert_eq!(last_balances(&dir, "balances"), reference);
}
