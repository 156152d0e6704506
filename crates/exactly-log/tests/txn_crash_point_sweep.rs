//! Crash-point sweep of transactions: a transactional producer runs 30 transactions over
//! 3 partitions (1–3 partitions and 1–2 records each, every 4th one aborted, every 5th
//! prepared before its decision — a new instance must then decide it — small
//! segments, `Durability::Immediate`). The fault-free run counts the storage mutations N;
//! then for every crash point in `0..N` the workload runs until the storage stops, the
//! machine crashes (tear modes in rotation), the log reopens (recovery completes decided
//! transactions and aborts open ones) and `read_committed` readers must see
//! - every transaction whose `commit` returned `Ok`, whole, in order, exactly once;
//! - no transaction whose `abort` returned `Ok`, and nothing of the interrupted one unless
//!   it was a commit, and then all of it in every partition (atomicity);
//! - after a new producer instance re-runs the interrupted transaction (unless it became
//!   visible) and the rest of the workload, exactly the committed transactions once.
//!
//! The sweep runs twice: with markers made durable before `commit` returns, and with
//! markers trailing the decision, synced only by the partition's next sync (the
//! deterministic extreme of the default, where a background syncer does it within a
//! millisecond): a crash then often takes markers whose decision is durable.
//!
//! Every other crash point also crashes during recovery. Failures print the seed and crash point (`EXACTLY_SEED` reruns one seed).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use common::*;
use exactly_core::{ManualClock, Offset, SimStorage, TearMode};
use exactly_log::{Durability, Isolation, Log, LogConfig, MarkerSync};

const TOPIC: &str = "out";
const PARTITIONS: u32 = 3;
const TXNS: usize = 30;
const TEARS: [TearMode; 4] = [
    TearMode::DropUnsynced,
    TearMode::KeepPrefix,
    TearMode::PrefixThenGarbage,
    TearMode::PrefixThenZeros,
];

const MARKER_SYNCS: [MarkerSync; 2] = [MarkerSync::BeforeReturn, MarkerSync::WithNextSync];

fn config(marker_sync: MarkerSync) -> LogConfig {
    LogConfig {
        durability: Durability::Immediate,
        segment_bytes_max: 4096,
        batch_bytes_max: 1024,
        marker_sync,
        ..LogConfig::default()
    }
}

/// Transaction `k`: (partition, values) sends, and whether it commits.
fn txn(k: usize) -> (Vec<(u32, Vec<String>)>, bool) {
    let width = 1 + (k * 7) % 3;
    let sends = (0..width)
        .map(|w| {
            let p = ((k + w * 2) % PARTITIONS as usize) as u32;
            let n = 1 + (k + w) % 2;
            let values = (0..n)
                .map(|j| format!("t{k}-p{p}-r{j}-{}", "x".repeat(150)))
                .collect();
            (p, values)
        })
        .collect();
    (sends, k % 4 != 3)
}

/// Runs transactions `from..` until one fails; returns the next transaction to run and
/// whether the workload completed.
fn run_txns(log: &Log, from: usize, committed: &mut Vec<usize>) -> (usize, bool) {
    let Ok(mut producer) = log.transactional_producer("t", 60_000) else {
        return (from, false);
    };
    let mut from = from;
    if producer.is_prepared() {
        // The interrupted transaction `from` was prepared: this instance must decide it.
        assert_eq!(from % 5, 4, "only prepared transactions are handed over");
        let ended = match txn(from).1 {
            true => producer.commit(),
            false => producer.abort(),
        };
        if ended.is_err() {
            return (from, false);
        }
        if txn(from).1 {
            committed.push(from);
        }
        from += 1;
    }
    for k in from..TXNS {
        let (sends, commit) = txn(k);
        if producer.begin().is_err() {
            return (k, false);
        }
        for (p, values) in &sends {
            let records: Vec<_> = values
                .iter()
                .map(|v| rec(k as i64, None, v.as_bytes()))
                .collect();
            if producer.send(TOPIC, *p, &records).is_err() {
                return (k, false);
            }
        }
        // Every 5th transaction is prepared first (two-phase commit).
        if k % 5 == 4 && producer.prepare().is_err() {
            return (k, false);
        }
        let ended = match commit {
            true => producer.commit(),
            false => producer.abort(),
        };
        if ended.is_err() {
            return (k, false);
        }
        if commit {
            committed.push(k);
        }
    }
    (TXNS, true)
}

/// What `read_committed` readers see once every marker written is durable (with trailing
/// markers, a live log shows a commit only after the partition's next sync).
fn committed_view(log: &Log) -> Vec<Vec<String>> {
    log.flush().unwrap();
    (0..PARTITIONS)
        .map(|p| {
            log.read_with(TOPIC, p, Offset(0), 100_000, Isolation::ReadCommitted)
                .unwrap()
                .records
                .into_iter()
                .map(|r| String::from_utf8(r.value).unwrap())
                .collect()
        })
        .collect()
}

/// What `read_committed` shows when exactly the transactions `ks` committed.
fn expected_view(ks: &[usize]) -> Vec<Vec<String>> {
    let mut view = vec![Vec::new(); PARTITIONS as usize];
    for k in ks {
        for (p, values) in txn(*k).0 {
            view[p as usize].extend(values);
        }
    }
    view
}

fn open_with_topic(storage: &SimStorage, clock: &ManualClock, mode: MarkerSync) -> Option<Log> {
    let log = open_sim(storage, clock, config(mode)).ok()?;
    log.create_topic(TOPIC, PARTITIONS).ok()?;
    Some(log)
}

fn crash_point(seed: u64, mode: MarkerSync, i: u64, n: u64) {
    let tear = TEARS[(i % 4) as usize];
    let ctx = format!("seed {seed}, {mode:?}, crash point {i} of {n}, {tear:?}");
    let storage = SimStorage::new(seed ^ i);
    let clock = ManualClock::new(1_000_000);
    storage.crash_after_mutations(i);
    let mut committed = Vec::new();
    let next = match open_with_topic(&storage, &clock, mode) {
        Some(log) => run_txns(&log, 0, &mut committed).0,
        None => 0,
    };
    assert!(
        storage.is_crashed(),
        "{ctx}: the crash point was never reached"
    );
    storage.crash(tear);
    // Every other crash point crashes again while the reopened log recovers (recovery
    // writes markers and transaction states), with another tear mode.
    if i % 2 == 1 {
        storage.crash_after_mutations(i.wrapping_mul(7919) % 24);
        let reopened = open_sim(&storage, &clock, config(mode));
        if storage.is_crashed() {
            drop(reopened);
            storage.crash(TEARS[((i / 4) % 4) as usize]);
        } else {
            reopened.unwrap_or_else(|e| panic!("{ctx}: reopen failed: {e}"));
            storage.crash_after_mutations(u64::MAX);
        }
    }

    let log = open_sim(&storage, &clock, config(mode))
        .unwrap_or_else(|e| panic!("{ctx}: reopen failed: {e}"));
    if log.partition_count(TOPIC).is_none() {
        assert!(committed.is_empty(), "{ctx}: topic lost");
        log.create_topic(TOPIC, PARTITIONS).unwrap();
    }
    let view = committed_view(&log);
    let without = expected_view(&committed);
    let interrupted_commit = next < TXNS && txn(next).1;
    let mut with = committed.clone();
    with.push(next);
    let resume_from = if view == without {
        next
    } else if interrupted_commit && view == expected_view(&with) {
        committed.push(next); // its commit decision was durable: recovery finished it
        next + 1
    } else {
        panic!(
            "{ctx}: read_committed after recovery is neither the acknowledged commits \
             nor those plus the whole interrupted transaction {next}:\n got {view:?}\n want {without:?}"
        );
    };
    let (end, done) = run_txns(&log, resume_from, &mut committed);
    assert!(done, "{ctx}: resumed workload stopped at transaction {end}");
    let all: Vec<usize> = (0..TXNS).filter(|k| txn(*k).1).collect();
    assert_eq!(committed, all, "{ctx}");
    assert!(
        committed_view(&log) == expected_view(&all),
        "{ctx}: final view"
    );
    drop(log);
    // And once more after a clean reopen.
    let log = open_sim(&storage, &clock, config(mode)).unwrap();
    assert!(
        committed_view(&log) == expected_view(&all),
        "{ctx}: view after reopen"
    );
}

#[test]
fn every_crash_point_keeps_transactions_atomic_and_exactly_once() {
    for (seed, mode) in seeds(0x7a)
        .into_iter()
        .flat_map(|seed| MARKER_SYNCS.map(|mode| (seed, mode)))
    {
        let storage = SimStorage::new(seed);
        let clock = ManualClock::new(1_000_000);
        let log = open_with_topic(&storage, &clock, mode).unwrap();
        let mut committed = Vec::new();
        assert_eq!(run_txns(&log, 0, &mut committed), (TXNS, true));
        let n = storage.mutation_count();
        let all: Vec<usize> = (0..TXNS).filter(|k| txn(*k).1).collect();
        assert_eq!(committed_view(&log), expected_view(&all));
        drop(log);
        let started = std::time::Instant::now();
        std::thread::scope(|scope| {
            for t in 0..2u64 {
                scope.spawn(move || {
                    for i in (t..n).step_by(2) {
                        if let Err(panic) =
                            std::panic::catch_unwind(|| crash_point(seed, mode, i, n))
                        {
                            eprintln!("FAILED at crash point {i} with seed {seed}, {mode:?}");
                            std::panic::resume_unwind(panic);
                        }
                    }
                });
            }
        });
        eprintln!(
            "seed {seed}, {mode:?}: {n} crash points in {:?}",
            started.elapsed()
        );
    }
}
