//! Regression: epochs are 16 bits and every transaction uses one (plus one per new
//! instance), so a busy transactional id reaches `u16::MAX` — after 65,535 transactions,
//! about 11 minutes at 100 commits/s. There the bumps saturated: a new instance created at
//! epoch `u16::MAX` got the *same* epoch as the old one, so the old instance was not
//! fenced — its next `begin` even took a fresh producer id and fenced the new instance
//! instead; an open transaction aborted (or a prepared one handed over) at `u16::MAX`
//! left its producer unfenced too. Transactions now begin at least `EPOCH_HEADROOM` epochs
//! below the end (else with a fresh producer id), and a new instance near the end takes a
//! fresh producer id. Checked from every starting epoch within 40 of the end.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use common::*;
use exactly_core::{ManualClock, Offset, SimStorage};
use exactly_log::{Isolation, Log, LogConfig, TransactionalProducer, TxnError};

fn committed(log: &Log) -> Vec<Vec<u8>> {
    let batch = log
        .read_with("a", 0, Offset(0), 1_000, Isolation::ReadCommitted)
        .unwrap();
    batch.records.into_iter().map(|r| r.value).collect()
}

/// Runs empty transactions (no I/O) until the epoch reaches `target` or the producer
/// switches to a fresh producer id.
fn burn_epochs(producer: &mut TransactionalProducer<'_>, target: u16) {
    let pid = producer.producer_id();
    while producer.epoch().0 < target && producer.producer_id() == pid {
        producer.begin().unwrap();
        producer.commit().unwrap();
    }
}

fn setup(k: u16) -> (SimStorage, ManualClock, Log) {
    let storage = SimStorage::new(u64::from(k));
    let clock = ManualClock::new(1_000_000);
    let log = open_sim(&storage, &clock, LogConfig::default()).unwrap();
    log.create_topic("a", 1).unwrap();
    (storage, clock, log)
}

/// Every start within 40 epochs of the end, whatever headroom the log keeps.
const STARTS: u16 = 40;

#[test]
fn a_new_instance_fences_the_old_one_at_the_last_epochs() {
    for k in 1..=STARTS {
        let (_storage, _clock, log) = setup(k);
        let mut old = log.transactional_producer("t", 60_000).unwrap();
        burn_epochs(&mut old, u16::MAX - k);
        old.begin().unwrap();
        old.send("a", 0, &[rec(1, None, b"last")]).unwrap();
        old.commit().unwrap();
        let mut new = log.transactional_producer("t", 60_000).unwrap();
        assert!(
            (new.producer_id(), new.epoch()) != (old.producer_id(), old.epoch()),
            "k {k}: the new instance has its own epoch (or producer id)"
        );
        assert!(
            matches!(old.begin(), Err(TxnError::Fenced { .. })),
            "k {k}: old instance fenced"
        );
        new.begin().unwrap();
        new.send("a", 0, &[rec(2, None, b"new")]).unwrap();
        new.commit().unwrap();
        assert_eq!(
            committed(&log),
            [b"last".to_vec(), b"new".to_vec()],
            "k {k}"
        );
    }
}

#[test]
fn an_open_transaction_aborted_at_the_last_epochs_fences_its_producer() {
    for k in 1..=STARTS {
        let (_storage, _clock, log) = setup(k);
        let mut old = log.transactional_producer("t", 60_000).unwrap();
        burn_epochs(&mut old, u16::MAX - k);
        old.begin().unwrap();
        old.send("a", 0, &[rec(1, None, b"open")]).unwrap();
        let mut new = log.transactional_producer("t", 60_000).unwrap();
        assert!(
            matches!(
                old.send("a", 0, &[rec(1, None, b"zombie")]),
                Err(TxnError::Fenced { .. })
            ),
            "k {k}: zombie send fenced"
        );
        assert!(
            matches!(old.commit(), Err(TxnError::Fenced { .. })),
            "k {k}: zombie commit fenced"
        );
        assert!(committed(&log).is_empty(), "k {k}: aborted");
        new.begin().unwrap();
        new.send("a", 0, &[rec(2, None, b"new")]).unwrap();
        new.commit().unwrap();
        assert_eq!(committed(&log), [b"new".to_vec()], "k {k}");
        let info = log.partition_info("a", 0).unwrap();
        assert!(info.open_transactions.is_empty(), "k {k}");
    }
}

#[test]
fn a_prepared_transaction_handed_over_at_the_last_epochs_fences_the_old_instance() {
    for k in 1..=STARTS {
        let (_storage, _clock, log) = setup(k);
        let mut old = log.transactional_producer("t", 60_000).unwrap();
        burn_epochs(&mut old, u16::MAX - k);
        old.begin().unwrap();
        old.send("a", 0, &[rec(1, None, b"prepared")]).unwrap();
        old.prepare().unwrap();
        let mut new = log.transactional_producer("t", 60_000).unwrap();
        assert!(new.is_prepared());
        assert!(
            matches!(old.commit(), Err(TxnError::Fenced { .. })),
            "k {k}: old instance fenced"
        );
        new.commit().unwrap();
        assert_eq!(committed(&log), [b"prepared".to_vec()], "k {k}");
        let info = log.partition_info("a", 0).unwrap();
        assert!(info.open_transactions.is_empty(), "k {k}");
    }
}
