//! Regression: a fenced producer's `send` could still leave an open transaction behind.
//! `send` checks the epoch under the coordinator's lock, records the partition, releases
//! the lock and only then appends. A new instance taking the id over in that window aborted
//! the transaction — but the partition had nothing open yet, so no marker was written and
//! the partition never learned the new epoch. The zombie's batch then arrived with its old
//! epoch, was accepted, and stayed open forever: the last stable offset was stuck behind it
//! (and a later transaction of the id writing there would have committed it).
//!
//! Two threads race many times: the old instance sends a large record (its encoding widens
//! the window) to a partition new to its transaction while a new instance is created.
//! Whatever the interleaving, nothing may stay open and nothing of the old transaction may
//! become visible.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use common::*;
use exactly_core::{ManualClock, Offset, SimStorage};
use exactly_log::{AppendError, Isolation, LogConfig, TxnError};
use std::sync::Barrier;

#[test]
fn a_send_racing_a_takeover_never_leaves_a_transaction_open() {
    let rounds: usize = std::env::var("EXACTLY_RACE_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let big = vec![7u8; 4 << 20];
    let mut outcomes = std::collections::BTreeMap::new();
    for round in 0..rounds {
        let storage = SimStorage::new(round as u64);
        let clock = ManualClock::new(1_000_000);
        let log = open_sim(&storage, &clock, LogConfig::default()).unwrap();
        log.create_topic("a", 2).unwrap();
        let mut old = log.transactional_producer("t", 60_000).unwrap();
        old.begin().unwrap();
        old.send("a", 0, &[rec(0, None, b"first")]).unwrap();
        let barrier = Barrier::new(2);
        let (sent, _new) = std::thread::scope(|s| {
            let zombie = s.spawn(|| {
                barrier.wait();
                match old.send("a", 1, &[rec(1, None, &big)]) {
                    Ok(_) => "appended",
                    Err(TxnError::Fenced { .. }) => "fenced by the coordinator",
                    Err(TxnError::Append(AppendError::ProducerFenced { .. })) => {
                        "fenced by the partition"
                    }
                    Err(e) => panic!("round {round}: {e}"),
                }
            });
            let takeover = s.spawn(|| {
                barrier.wait();
                // Sweep the start of the takeover over the old instance's send.
                std::thread::sleep(std::time::Duration::from_micros((round % 60) as u64 * 25));
                log.transactional_producer("t", 60_000).unwrap().epoch()
            });
            (zombie.join().unwrap(), takeover.join().unwrap())
        });
        *outcomes.entry(sent).or_insert(0) += 1;
        for partition in 0..2 {
            let info = log.partition_info("a", partition).unwrap();
            assert!(
                info.open_transactions.is_empty(),
                "round {round}: a/{partition} left open: {:?} (zombie send: {sent})",
                info.open_transactions
            );
            let read = log
                .read_with("a", partition, Offset(0), 10, Isolation::ReadCommitted)
                .unwrap();
            assert!(
                read.records.is_empty(),
                "round {round}: aborted data visible"
            );
        }
    }
    eprintln!("zombie sends over {rounds} rounds: {outcomes:?}");
}
