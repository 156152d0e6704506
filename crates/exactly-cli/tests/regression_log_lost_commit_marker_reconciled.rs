//! Regression: a lost COMMIT marker was never reconciled. When the commit marker of a
//! transaction was damaged (and cut by `log repair`), the transaction stayed open in the
//! partition forever: the last stable offset stayed at its first record, so its committed
//! records — and every later record, of other producers too — were invisible to
//! `read_committed` consumers. Now the next writer open writes the marker the coordinator
//! decided (commit) for that exact transaction.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::log_damage_common;

use log_damage_common::*;

#[test]
fn cut_commit_marker_is_rewritten_and_committed_records_become_readable() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("log");
    run_ok(&["log", "create", "--topic", "t"], &dir, "");
    run_ok(
        &["log", "produce", "--topic", "t"],
        &dir,
        "{\"value\":\"before\"}\n",
    );
    let txn: String = (0..3)
        .map(|i| format!("{{\"topic\":\"t\",\"value\":\"c{i}\"}}\n"))
        .collect();
    run_ok(&["log", "txn", "--transactional-id", "tx"], &dir, &txn);
    assert_eq!(consume_values(&dir, "t"), ["before", "c0", "c1", "c2"]);

    // The commit marker is the last batch: damage it, then cut it explicitly.
    flip_last_batch(&first_segment(&dir, "t"));
    let repair = run_ok(&["log", "repair"], &dir, "");
    assert!(repair.contains("\"dropped_offsets\":[4,5]"), "{repair}");

    assert_eq!(consume_values(&dir, "t"), ["before", "c0", "c1", "c2"]);
    run_ok(
        &["log", "produce", "--topic", "t"],
        &dir,
        "{\"value\":\"after\"}\n",
    );
    assert_eq!(
        consume_values(&dir, "t"),
        ["before", "c0", "c1", "c2", "after"]
    );
    let describe = run_ok(&["log", "describe", "--topic", "t"], &dir, "");
    assert!(describe.contains("\"open_transactions\":[]"), "{describe}");
    assert!(run(&["log", "verify"], &dir, "").status.success());
}
