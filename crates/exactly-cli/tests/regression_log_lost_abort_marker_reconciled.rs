//! Regression: a lost ABORT marker let the next commit of the same transactional id expose
//! the aborted records. With the abort marker damaged (and cut by `log repair`), the aborted
//! transaction stayed open in the partition; the next transaction's batches joined its open
//! span and the new commit marker ended the span from the aborted transaction's first record
//! ("a marker ends transactions of its epoch or older"), so `read_committed` consumers read
//! the aborted records. Now the writer open writes the abort the coordinator decided for
//! that exact transaction, and a marker only ever ends its own transaction.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::log_damage_common;

use log_damage_common::*;

#[test]
fn cut_abort_marker_is_rewritten_and_a_later_commit_does_not_expose_the_aborted_records() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("log");
    run_ok(&["log", "create", "--topic", "t"], &dir, "");
    run_ok(
        &["log", "produce", "--topic", "t"],
        &dir,
        "{\"value\":\"before\"}\n",
    );
    let aborted =
        "{\"topic\":\"t\",\"value\":\"aborted-1\"}\n{\"topic\":\"t\",\"value\":\"aborted-2\"}\n";
    run_ok(
        &["log", "txn", "--transactional-id", "tx", "--abort"],
        &dir,
        aborted,
    );
    assert_eq!(consume_values(&dir, "t"), ["before"]);

    flip_last_batch(&first_segment(&dir, "t"));
    let repair = run_ok(&["log", "repair"], &dir, "");
    assert!(repair.contains("\"dropped_offsets\":[3,4]"), "{repair}");

    let committed = "{\"topic\":\"t\",\"value\":\"committed\"}\n";
    run_ok(&["log", "txn", "--transactional-id", "tx"], &dir, committed);
    assert_eq!(consume_values(&dir, "t"), ["before", "committed"]);
    let uncommitted = run_ok(
        &[
            "log",
            "consume",
            "--topic",
            "t",
            "--isolation",
            "read-uncommitted",
        ],
        &dir,
        "",
    );
    assert_eq!(
        uncommitted.matches("aborted-").count(),
        2,
        "the aborted records are still stored"
    );
    let describe = run_ok(&["log", "describe", "--topic", "t"], &dir, "");
    assert!(describe.contains("\"open_transactions\":[]"), "{describe}");
}
