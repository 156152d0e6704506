//! Regression: a bit flipped in the *last* record of a receiver journal after a clean stop
//! was taken for a torn write and cut, so `pipe dump` (and a restarted `pipe recv`) silently
//! lost a message that had been fsynced and confirmed to its sender, and exited 0. Now the
//! journal's durable end (`receiver.journal.durable`) proves the record was durable and
//! both refuse, naming the file and the byte; a torn tail *past* the durable end (a crash
//! mid-write) still recovers on its own.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::pipe_cli_common;

use pipe_cli_common::{dump, free_addr, run_sender, spawn_receiver, write_lines};
use std::time::Duration;

const MESSAGES: usize = 50;

/// Start offsets of the records of a journal, read naively (`len u32 | crc u32 | body`).
fn record_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut at = 0;
    while at + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        offsets.push(at);
        at += 8 + len;
    }
    assert_eq!(at, bytes.len(), "the journal ends on a record boundary");
    offsets
}

#[test]
fn damaged_last_record_is_refused_and_torn_tail_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let (recv_state, input) = (dir.path().join("recv"), dir.path().join("in.jsonl"));
    let lines: Vec<String> = (0..MESSAGES).map(|i| format!("{{\"n\":{i}}}")).collect();
    write_lines(&input, &lines);
    let addr = free_addr();
    let mut receiver = spawn_receiver(&addr, &recv_state, &["--idle-exit-ms", "1500"]);
    let (status, err) = run_sender(&addr, &dir.path().join("send"), &input, &[]);
    assert!(status.success(), "{err}");
    let status = receiver.wait_until(Duration::from_secs(30)).unwrap();
    assert!(status.success(), "{}", receiver.stderr());

    let journal = recv_state.join("receiver.journal");
    let clean = std::fs::read(&journal).unwrap();
    let offsets = record_offsets(&clean);
    assert_eq!(offsets.len(), MESSAGES, "one record per message");

    // A torn, never-synced tail after the durable end: recovered (cut) on its own.
    let mut torn = clean.clone();
    torn.extend_from_slice(&[40, 0, 0, 0, 1, 2, 3]);
    std::fs::write(&journal, &torn).unwrap();
    let (status, msgs, err) = dump(&recv_state);
    assert!(status.success(), "{err}");
    assert_eq!(msgs.len(), MESSAGES);
    assert_eq!(
        std::fs::read(&journal).unwrap(),
        clean,
        "only the torn tail is cut"
    );

    // One bit flipped inside the last (fsynced, confirmed) record: refused, nothing cut.
    let mut damaged = clean.clone();
    let last = damaged.len() - 1;
    damaged[last] ^= 0x04;
    std::fs::write(&journal, &damaged).unwrap();
    let last_record = offsets[MESSAGES - 1];
    let (status, msgs, err) = dump(&recv_state);
    assert!(
        !status.success(),
        "dump exited 0 printing {} messages",
        msgs.len()
    );
    assert!(
        err.contains("receiver.journal") && err.contains(&format!("byte {last_record}")),
        "the error names the file and the byte: {err}"
    );
    let mut restarted = spawn_receiver(&addr, &recv_state, &["--idle-exit-ms", "500"]);
    let status = restarted.wait_until(Duration::from_secs(30)).unwrap();
    let err = restarted.stderr();
    assert!(!status.success(), "recv opened a damaged journal: {err}");
    assert!(err.contains(&format!("byte {last_record}")), "{err}");
    assert_eq!(std::fs::read(&journal).unwrap(), damaged, "nothing was cut");
}
