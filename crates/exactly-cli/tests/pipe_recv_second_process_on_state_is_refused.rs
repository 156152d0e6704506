//! Two `exactly pipe recv` on one `--state` directory would both confirm messages into one
//! journal, and one's recovery could cut what the other confirmed: the second is refused
//! at once with an error naming the directory (its `LOCK` is held), exits non-zero, and
//! the first keeps working. `pipe dump` is refused the same way while the receiver runs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::pipe_cli_common;

use pipe_cli_common::{dump, free_addr, run_sender, spawn_receiver, write_lines};
use std::time::Duration;

#[test]
fn pipe_recv_second_process_on_state_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("recv");
    let addr = free_addr();
    let mut first = spawn_receiver(&addr, &state, &["--idle-exit-ms", "20000"]);
    // The first receiver holds the lock once its journal exists.
    let journal = state.join("receiver.journal");
    for _ in 0..500 {
        if journal.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(journal.exists(), "the first receiver did not start");

    // Idle exit after 3 s: without a lock the second would run and exit 0.
    let mut second = spawn_receiver(&free_addr(), &state, &["--idle-exit-ms", "3000"]);
    let status = second.wait_until(Duration::from_secs(30)).unwrap();
    let err = second.stderr();
    assert!(
        !status.success(),
        "a second receiver ran on the same state: {err}"
    );
    assert!(
        err.contains("in use by another process") && err.contains(&state.display().to_string()),
        "the error names the directory: {err}"
    );
    let (status, _, err) = dump(&state);
    assert!(
        !status.success() && err.contains("in use by another process"),
        "{err}"
    );

    // The first receiver still delivers.
    let input = dir.path().join("in.jsonl");
    let lines: Vec<String> = (0..20).map(|i| format!("{{\"n\":{i}}}")).collect();
    write_lines(&input, &lines);
    let (status, err) = run_sender(&addr, &dir.path().join("send"), &input, &[]);
    assert!(status.success(), "{err}");
    first.kill();
    let (status, msgs, err) = dump(&state);
    assert!(status.success(), "{err}");
    let ns: Vec<u64> = msgs.iter().map(|m| m["n"].as_u64().unwrap()).collect();
    assert_eq!(ns.len(), 20);
    let mut sorted = ns.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..20).collect::<Vec<_>>());
}
