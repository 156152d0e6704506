//! Regression: `pipe send --state S` resumed by position only, so re-running it on S with a
//! *different* input silently skipped that input's first N lines as "already sent" (N = what
//! S had sent) and exited 0. Now S keeps a fingerprint of the lines it sent: a different or
//! shorter input is refused with the input lines holding the first difference and how to
//! start fresh, nothing of it is sent; the same input with lines appended still resumes and
//! sends only the new lines.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::pipe_cli_common;

use pipe_cli_common::{dump, free_addr, run_sender, spawn_receiver, write_lines};

fn lines(range: std::ops::Range<u64>, tag: &str) -> Vec<String> {
    range
        .map(|i| format!("{{\"n\":{i},\"tag\":\"{tag}\"}}"))
        .collect()
}

#[test]
fn resume_with_another_input_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (send_state, recv_state) = (dir.path().join("send"), dir.path().join("recv"));
    let addr = free_addr();
    let mut receiver = spawn_receiver(&addr, &recv_state, &["--idle-exit-ms", "20000"]);

    let first = dir.path().join("first.jsonl");
    write_lines(&first, &lines(0..30, "a"));
    let (status, err) = run_sender(&addr, &send_state, &first, &[]);
    assert!(status.success(), "{err}");

    // Same length and more, line 29 (the 29th non-empty line, seq 28) changed.
    let mut other_lines = lines(0..40, "a");
    other_lines[28] = "{\"n\":28,\"tag\":\"changed\"}".to_string();
    let other = dir.path().join("other.jsonl");
    write_lines(&other, &other_lines);
    let (status, err) = run_sender(&addr, &send_state, &other, &[]);
    assert!(!status.success(), "a different input was resumed: {err}");
    assert!(
        err.contains("between input lines 17 and 30") && err.contains("new, empty --state"),
        "the error names the lines and how to start fresh: {err}"
    );

    // A shorter input is refused too.
    let short = dir.path().join("short.jsonl");
    write_lines(&short, &lines(0..10, "a"));
    let (status, err) = run_sender(&addr, &send_state, &short, &[]);
    assert!(
        !status.success() && err.contains("already sent 30"),
        "{err}"
    );

    // The same input with lines appended resumes: only the new lines are sent.
    let longer = dir.path().join("longer.jsonl");
    write_lines(&longer, &lines(0..45, "a"));
    let (status, err) = run_sender(&addr, &send_state, &longer, &[]);
    assert!(status.success(), "{err}");

    receiver.kill();
    let (status, msgs, err) = dump(&recv_state);
    assert!(status.success(), "{err}");
    let mut ns: Vec<u64> = msgs
        .iter()
        .map(|m| {
            assert_eq!(m["tag"], "a", "nothing of the refused input was sent: {m}");
            m["n"].as_u64().unwrap()
        })
        .collect();
    ns.sort_unstable();
    assert_eq!(ns, (0..45).collect::<Vec<_>>(), "every line exactly once");
}
