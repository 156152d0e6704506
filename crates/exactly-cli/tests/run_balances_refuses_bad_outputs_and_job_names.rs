//! `run balances` refuses outputs that would corrupt something — the input itself, an
//! internal topic of the log (`__…`), a job journal, two roles on one topic — and job
//! names that could collide with another job's ids, before writing anything.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::run_common;

use run_common::{gen_transfers, run_balances, stderr, tree};

#[test]
fn bad_outputs_and_job_names_are_refused_without_writing() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("log");
    gen_transfers(&dir, 100, 1);
    let before = tree(&dir);
    let cases: [(&str, &[&str], &str); 7] = [
        ("transfers", &[], "input"),
        ("__transactions", &[], "__"),
        ("__consumer_offsets", &[], "__"),
        ("exactly.job.balances", &[], "journal"),
        ("balances", &["--audit", "balances"], "distinct"),
        ("balances", &["--dead-letters", "transfers"], "input"),
        ("balances", &["--job", "a.sink"], "job name"),
    ];
    for (output, extra, expected) in cases {
        let result = run_balances(&dir, output, extra);
        let message = stderr(&result);
        assert!(!result.status.success(), "{output} {extra:?} was accepted");
        assert!(message.contains(expected), "{output} {extra:?}: {message}");
    }
    assert!(tree(&dir) == before, "a refused run wrote something");
}
