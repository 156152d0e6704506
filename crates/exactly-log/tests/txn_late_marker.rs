//! Late markers: transaction *n* of a transactional id is ended "late" — its old
//! `TransactionalProducer` calls `commit()`/`abort()` (or `send`/`prepare`) after a newer
//! instance (or a timeout, or a prepared hand-over) moved the id on and transaction *n + 1*
//! has begun and written. The late operation must fail with `Fenced`, must not change what
//! `read_committed` readers see, and must not end transaction *n + 1* in any partition:
//! its batches stay open (holding the LSO) until its own commit, then appear exactly once.
//!
//! Per seed: partitions touched, record counts, how transaction *n* was left (open and taken
//! over by `transactional_producer`, timed out, or prepared and handed over), the new
//! instance's decision on a handed-over prepared transaction, and the moment of the late
//! operation are random. 1,000 seeds by default (`EXACTLY_SEEDS=n` for more, `EXACTLY_SEED`
//! to replay one); a failure prints its seed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use common::*;
use exactly_core::{ManualClock, ProducerEpoch, ProducerId, SimStorage};
use exactly_log::{Isolation, Log, LogConfig, TransactionalProducer, TxnError};
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;

const PARTS: [(&str, u32); 4] = [("a", 0), ("a", 1), ("a", 2), ("b", 0)];
const TIMEOUT_MS: i64 = 10_000;

/// Values `read_committed` returns for a partition.
fn committed(log: &Log, topic: &str, partition: u32) -> Vec<String> {
    read_all_with(log, topic, partition, Isolation::ReadCommitted)
        .into_iter()
        .map(|(_, value)| value)
        .collect()
}

/// Writes a random transaction body; returns the values per partition.
fn write_body(
    rng: &mut SmallRng,
    producer: &mut TransactionalProducer<'_>,
    tag: &str,
) -> BTreeMap<(&'static str, u32), Vec<String>> {
    let mut parts = PARTS.to_vec();
    parts.shuffle(rng);
    parts.truncate(rng.random_range(1..=PARTS.len()));
    let mut written: BTreeMap<(&'static str, u32), Vec<String>> = BTreeMap::new();
    // A few sends, possibly several to the same partition.
    for i in 0..rng.random_range(1..=6) {
        let (topic, partition) = parts[rng.random_range(0..parts.len())];
        let count = rng.random_range(1..=4);
        let values: Vec<String> = (0..count).map(|j| format!("{tag}-{i}-{j}")).collect();
        let records: Vec<_> = values
            .iter()
            .map(|v| rec(i as i64, None, v.as_bytes()))
            .collect();
        producer.send(topic, partition, &records).unwrap();
        written
            .entry((topic, partition))
            .or_default()
            .extend(values);
    }
    written
}

fn assert_fenced<T: std::fmt::Debug>(result: Result<T, TxnError>, what: &str) {
    assert!(
        matches!(result, Err(TxnError::Fenced { .. })),
        "{what}: expected Fenced, got {result:?}"
    );
}

/// How transaction n is left behind by its producer.
#[derive(Clone, Copy, Debug)]
enum Left {
    /// Open; a new instance takes the id over (and aborts it).
    OpenTakenOver,
    /// Open; it times out and is aborted by `expire_transactions`.
    TimedOut,
    /// Prepared; a new instance inherits it and decides.
    Prepared { commit: bool },
}

/// When the late operation of the old instance happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum When {
    /// Right after the new instance exists (before it decides a handed-over prepared txn).
    Init,
    /// After transaction n + 1 began and wrote.
    Write,
    /// After transaction n + 1 is prepared.
    Prepare,
    /// After transaction n + 1 committed.
    Commit,
}

fn late_op(rng: &mut SmallRng, old: &mut TransactionalProducer<'_>, prepared: bool) {
    // A prepared producer may only commit or abort; an open one may also send or prepare.
    let choice = rng.random_range(0..if prepared { 2 } else { 4 });
    match choice {
        0 => assert_fenced(old.commit(), "late commit"),
        1 => assert_fenced(old.abort(), "late abort"),
        2 => assert_fenced(old.send("a", 0, &[rec(0, None, b"zombie")]), "late send"),
        _ => assert_fenced(old.prepare(), "late prepare"),
    }
}

/// Transaction n + 1's state in every partition: open with its (producer id, epoch) in the
/// partitions it wrote, and the partition's producer epoch never behind it.
fn assert_open_at(
    log: &Log,
    next: &BTreeMap<(&'static str, u32), Vec<String>>,
    pid: ProducerId,
    epoch: ProducerEpoch,
) {
    for (topic, partition) in PARTS {
        let info = log.partition_info(topic, partition).unwrap();
        let mine: Vec<_> = info
            .open_transactions
            .iter()
            .filter(|t| t.producer_id == pid.0)
            .collect();
        if next.contains_key(&(topic, partition)) {
            assert_eq!(mine.len(), 1, "{topic}/{partition}: txn n+1 is still open");
            assert_eq!(
                mine[0].epoch, epoch.0,
                "{topic}/{partition}: open at its epoch"
            );
            let state = log.producer_state(topic, partition, pid).unwrap().unwrap();
            assert_eq!(state.epoch, epoch, "{topic}/{partition}: partition epoch");
        } else {
            assert!(mine.is_empty(), "{topic}/{partition}: nothing open here");
        }
    }
}

fn scenario(seed: u64) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let storage = SimStorage::new(seed);
    let clock = ManualClock::new(1_000_000);
    let log = open_sim(&storage, &clock, LogConfig::default()).unwrap();
    log.create_topic("a", 3).unwrap();
    log.create_topic("b", 1).unwrap();

    // Expected read_committed content per partition.
    let mut expected: BTreeMap<(&'static str, u32), Vec<String>> = BTreeMap::new();
    let mut old = log.transactional_producer("t", TIMEOUT_MS).unwrap();
    // Some committed history first, so the id has used a few epochs.
    for k in 0..rng.random_range(0..3) {
        old.begin().unwrap();
        let body = write_body(&mut rng, &mut old, &format!("h{k}"));
        old.commit().unwrap();
        for (key, values) in body {
            expected.entry(key).or_default().extend(values);
        }
    }

    // Transaction n.
    old.begin().unwrap();
    let (pid_n, epoch_n) = (old.producer_id(), old.epoch());
    let body_n = write_body(&mut rng, &mut old, "n");
    let left = match rng.random_range(0..3) {
        0 => Left::OpenTakenOver,
        1 => Left::TimedOut,
        _ => Left::Prepared {
            commit: rng.random_bool(0.5),
        },
    };
    let when = match rng.random_range(0..4) {
        0 => When::Init,
        1 => When::Write,
        2 => When::Prepare,
        _ => When::Commit,
    };
    let context = format!("seed {seed}: {left:?}, late op {when:?}");
    let old_prepared = matches!(left, Left::Prepared { .. });
    if old_prepared {
        old.prepare().unwrap();
    }
    if matches!(left, Left::TimedOut) {
        clock.advance_ms(TIMEOUT_MS * 2);
        assert_eq!(log.expire_transactions().unwrap(), 1, "{context}");
    }
    let mut new = log.transactional_producer("t", TIMEOUT_MS).unwrap();
    assert_eq!(new.is_prepared(), old_prepared, "{context}");
    assert_eq!(new.producer_id(), pid_n, "{context}: same producer id");
    assert!(
        new.epoch() > epoch_n,
        "{context}: the new instance has a newer epoch"
    );
    let mut done_late = false;
    let mut late = |rng: &mut SmallRng, old: &mut TransactionalProducer<'_>, now: When| {
        if now == when && !done_late {
            done_late = true;
            let before: Vec<_> = PARTS.iter().map(|(t, p)| committed(&log, t, *p)).collect();
            late_op(rng, old, old_prepared);
            let after: Vec<_> = PARTS.iter().map(|(t, p)| committed(&log, t, *p)).collect();
            assert_eq!(
                before, after,
                "{context}: a late op changed what readers see"
            );
        }
    };
    late(&mut rng, &mut old, When::Init);
    // Transaction n is invisible until (unless) the new instance commits it.
    for ((topic, partition), values) in &body_n {
        let seen = committed(&log, topic, *partition);
        assert!(
            values.iter().all(|v| !seen.contains(v)),
            "{context}: txn n visible before a decision"
        );
    }
    if let Left::Prepared { commit } = left {
        if commit {
            new.commit().unwrap();
            for (key, values) in &body_n {
                expected
                    .entry(*key)
                    .or_default()
                    .extend(values.iter().cloned());
            }
        } else {
            new.abort().unwrap();
        }
    }
    for (topic, partition) in PARTS {
        assert_eq!(
            committed(&log, topic, partition),
            expected
                .get(&(topic, partition))
                .cloned()
                .unwrap_or_default(),
            "{context}: {topic}/{partition} after txn n ended"
        );
    }

    // Transaction n + 1.
    new.begin().unwrap();
    let (pid, epoch) = (new.producer_id(), new.epoch());
    assert_eq!(pid, pid_n, "{context}");
    assert!(epoch > epoch_n, "{context}: one epoch per transaction");
    let body = write_body(&mut rng, &mut new, "n1");
    let check_invisible = |log: &Log| {
        for (topic, partition) in PARTS {
            assert_eq!(
                committed(log, topic, partition),
                expected
                    .get(&(topic, partition))
                    .cloned()
                    .unwrap_or_default(),
                "{context}: {topic}/{partition} while txn n+1 is open"
            );
        }
        assert_open_at(log, &body, pid, epoch);
    };
    check_invisible(&log);
    late(&mut rng, &mut old, When::Write);
    check_invisible(&log);
    if rng.random_bool(0.5) || when == When::Prepare {
        new.prepare().unwrap();
        late(&mut rng, &mut old, When::Prepare);
        check_invisible(&log);
    }
    new.commit().unwrap();
    for (key, values) in &body {
        expected
            .entry(*key)
            .or_default()
            .extend(values.iter().cloned());
    }
    late(&mut rng, &mut old, When::Commit);
    assert!(done_late, "{context}: the late operation ran");
    for (topic, partition) in PARTS {
        let seen = committed(&log, topic, partition);
        assert_eq!(
            seen,
            expected
                .get(&(topic, partition))
                .cloned()
                .unwrap_or_default(),
            "{context}: {topic}/{partition} after txn n+1 committed"
        );
        let info = log.partition_info(topic, partition).unwrap();
        assert!(info.open_transactions.is_empty(), "{context}: nothing open");
        assert_eq!(info.last_stable_offset, info.end_offset, "{context}: LSO");
    }
    // Every value of txn n + 1 exactly once.
    for (topic, partition) in PARTS {
        let seen = committed(&log, topic, partition);
        for v in body.get(&(topic, partition)).into_iter().flatten() {
            assert_eq!(seen.iter().filter(|s| *s == v).count(), 1, "{context}: {v}");
        }
    }
    // The old instance stays fenced for good.
    assert_fenced(old.abort(), "late abort after everything");
}

#[test]
fn late_commit_or_abort_of_an_older_transaction_never_touches_the_newer_one() {
    let seeds = match std::env::var("EXACTLY_SEEDS") {
        Ok(_) => seeds(0),
        Err(_) if std::env::var("EXACTLY_SEED").is_ok() => seeds(0),
        Err(_) => (0..1_000).collect(),
    };
    for seed in seeds {
        with_seed(seed, scenario);
    }
}
