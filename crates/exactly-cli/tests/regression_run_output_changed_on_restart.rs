//! Regression: a job's identity was only its name. Re-running `run balances` with another
//! `--output` silently resumed the old job and wrote only later changes to the new topic
//! (nothing at all once the input was done), exit 0. The topology is now recorded in every
//! manifest and journal entry; a restart that changes it is refused with what differs and
//! how to start a new job, and a new `--job` computes the new output from the beginning.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::run_common;

use run_common::{gen_transfers, last_balances, reference_balances, run_balances, stderr};

#[test]
fn changed_output_is_refused_and_a_new_job_name_starts_fresh() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("log");
    gen_transfers(&dir, 2_000, 21);
    let output = run_balances(&dir, "balances", &[]);
    assert!(output.status.success(), "{}", stderr(&output));

    let output = run_balances(&dir, "balances-v2", &[]);
    let message = stderr(&output);
    assert!(!output.status.success(), "another output must be refused");
    assert!(message.contains("output was \"balances\""), "{message}");
    assert!(message.contains("--job"), "{message}");
    assert!(
        !dir.join("balances-v2").exists(),
        "a refused run creates no topic"
    );

    let output = run_balances(&dir, "balances-v2", &["--job", "balances-v2"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let (reference, _) = reference_balances(&dir, "transfers");
    assert_eq!(last_balances(&dir, "balances-v2"), reference);
    assert_eq!(last_balances(&dir, "balances"), reference);

    // Allowed across restarts: parallelism and sink mode.
    gen_transfers(&dir, 500, 22);
    let output = run_balances(
        &dir,
        "balances",
        &["--parallelism", "3", "--sink", "idempotent"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let (reference, _) = reference_balances(&dir, "transfers");
    assert_eq!(last_balances(&dir, "balances"), reference);
}
