//! Regression: the receiver's sender table (`senders_max`) filled up with finished senders
//! (every `pipe send` with a new state is a new sender id) and from then on every new sender
//! was dropped silently and resent forever — even after a receiver restart, which replayed
//! the same table. Now finished senders are forgotten down to a floor when room is needed
//! (before and after a restart), and when none can be forgotten (`--sender-floors-max`
//! reached) a new sender gets an explicit refused frame: `pipe send` prints why and exits
//! non-zero, and nothing is delivered twice.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::pipe_cli_common;

use pipe_cli_common::{dump, free_addr, run_sender, spawn_receiver, write_lines};

const PER_SENDER: u64 = 5;

#[test]
fn full_sender_table_forgets_finished_senders_or_refuses_explicitly() {
    let dir = tempfile::tempdir().unwrap();
    let recv_state = dir.path().join("recv");
    let input = |k: u64| {
        let path = dir.path().join(format!("in-{k}.jsonl"));
        let lines: Vec<String> = (0..PER_SENDER)
            .map(|i| format!("{{\"sender\":{k},\"n\":{i}}}"))
            .collect();
        write_lines(&path, &lines);
        path
    };
    let send = |addr: &str, k: u64| {
        run_sender(addr, &dir.path().join(format!("send-{k}")), &input(k), &[])
    };
    let table = ["--senders-max", "1", "--idle-exit-ms", "20000"];

    // One place, three senders one after the other, a restart, a fourth: all delivered.
    let addr = free_addr();
    let mut receiver = spawn_receiver(&addr, &recv_state, &table);
    for k in 0..3 {
        let (status, err) = send(&addr, k);
        assert!(status.success(), "sender {k}: {err}");
    }
    receiver.kill();
    let addr = free_addr();
    let mut receiver = spawn_receiver(&addr, &recv_state, &table);
    let (status, err) = send(&addr, 3);
    assert!(status.success(), "sender 3 after a restart: {err}");
    receiver.kill();

    // No room to forget anyone: the next new sender is refused, explicitly.
    let addr = free_addr();
    let mut receiver = spawn_receiver(
        &addr,
        &recv_state,
        &[&table[..], &["--sender-floors-max", "0"]].concat(),
    );
    let (status, err) = send(&addr, 4);
    assert!(!status.success(), "a sender was taken with no room: {err}");
    assert!(
        err.contains("refused") && err.contains("sender table is full"),
        "the sender says why: {err}"
    );
    receiver.kill();

    let (status, msgs, err) = dump(&recv_state);
    assert!(status.success(), "{err}");
    let mut got: Vec<(u64, u64)> = msgs
        .iter()
        .map(|m| (m["sender"].as_u64().unwrap(), m["n"].as_u64().unwrap()))
        .collect();
    got.sort_unstable();
    let expected: Vec<(u64, u64)> = (0..4)
        .flat_map(|k| (0..PER_SENDER).map(move |n| (k, n)))
        .collect();
    assert_eq!(
        got, expected,
        "senders 0-3 exactly once, nothing of sender 4"
    );
}
