//! Regression: handing a *prepared* transaction over to a new `TransactionalProducer` did
//! not bump the epoch, so the old instance was not fenced. Both instances could then
//! decide the same transaction — the old one committed it and the new one's later `abort()`
//! also returned `Ok` (recording `CompleteAbort` for a committed transaction), or the old
//! one ended it while the new one believed it still held it. Found by `txn_late_marker.rs`
//! and `txn_model_proptest.rs`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use common::*;
use exactly_core::{ManualClock, Offset, SimStorage};
use exactly_log::{Isolation, LogConfig, TxnError, TxnState};

#[test]
fn a_prepared_handover_fences_the_old_instance() {
    let storage = SimStorage::new(1);
    let clock = ManualClock::new(1_000_000);
    let log = open_sim(&storage, &clock, LogConfig::default()).unwrap();
    log.create_topic("a", 1).unwrap();
    let mut old = log.transactional_producer("t", 60_000).unwrap();
    old.begin().unwrap();
    old.send("a", 0, &[rec(1, None, b"prepared")]).unwrap();
    old.prepare().unwrap();
    let epoch = old.epoch();

    let mut new = log.transactional_producer("t", 60_000).unwrap();
    assert!(new.is_prepared());
    assert!(new.epoch() > epoch, "the hand-over bumps the epoch");
    assert!(
        matches!(old.commit(), Err(TxnError::Fenced { .. })),
        "the old instance may no longer decide"
    );
    let read = log
        .read_with("a", 0, Offset(0), 10, Isolation::ReadCommitted)
        .unwrap();
    assert!(read.records.is_empty(), "still undecided");
    new.abort().unwrap();
    let meta = log.transactions().unwrap();
    assert_eq!(meta[0].state, TxnState::CompleteAbort);
    let read = log
        .read_with("a", 0, Offset(0), 10, Isolation::ReadCommitted)
        .unwrap();
    assert!(read.records.is_empty(), "aborted by the new instance");
}
