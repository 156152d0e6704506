//! Regression: a `pipe recv` whose `--state` directory was deleted under it kept running,
//! journaling into an unlinked file and confirming messages that no longer existed anywhere
//! durable (and the senders exited 0). Now the receiver checks, after every fsync and
//! before confirming, that its directory is still the one it locked; it stops with an error
//! naming the directory and exits non-zero, and a sender started after the deletion is
//! never told its messages arrived.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::pipe_cli_common;

use pipe_cli_common::{free_addr, run_sender, spawn_receiver, spawn_sender, write_lines};
use std::time::Duration;

#[test]
fn deleted_state_dir_stops_the_receiver() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("recv");
    let input = dir.path().join("in.jsonl");
    let lines: Vec<String> = (0..20).map(|i| format!("{{\"n\":{i}}}")).collect();
    write_lines(&input, &lines);
    let addr = free_addr();
    // Idle exit after 4 s: without the check the receiver would exit 0 by itself.
    let mut receiver = spawn_receiver(&addr, &state, &["--idle-exit-ms", "4000"]);
    let (status, err) = run_sender(&addr, &dir.path().join("send-1"), &input, &[]);
    assert!(status.success(), "{err}");

    std::fs::remove_dir_all(&state).unwrap();
    let mut late_sender = spawn_sender(&addr, &dir.path().join("send-2"), &input, &[]);

    let status = receiver.wait_until(Duration::from_secs(30)).unwrap();
    let err = receiver.stderr();
    assert!(!status.success(), "the receiver exited 0: {err}");
    assert!(
        err.contains(&state.display().to_string()) && err.contains("deleted"),
        "the error names the directory: {err}"
    );
    // Nothing confirms the late sender's messages any more: it cannot have finished.
    let late = late_sender.wait_until(Duration::from_millis(500));
    assert!(
        !late.is_some_and(|s| s.success()),
        "a sender was confirmed by a receiver without state: {}",
        late_sender.stderr()
    );
}
