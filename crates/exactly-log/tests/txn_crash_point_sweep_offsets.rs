//! Crash-point sweep of transactions: a workload of two transactional ids (`t`, `u`) —
//! four transactions of `t` (commit with consumer positions, abort, prepare then commit with
//! positions, commit over three partitions with positions) and one of `u` that stays open
//! across two of them, plus plain appends — is run once without faults to count its
//! storage mutations N. Then for every crash point `i` in `0..N`: fresh `SimStorage`,
//! `crash_after_mutations(i)`, run until an operation fails, `crash(tear)` with the tear
//! mode cycling through all four, reopen (which must succeed), resume and commit a
//! transaction left prepared, and check:
//! - every transaction whose `commit()` returned `Ok` is visible (`read_committed`) in all
//!   its partitions, every record exactly once;
//! - every other transaction is all or nothing: either invisible everywhere (aborted by
//!   recovery) or — when the crash came after its durable commit decision — complete;
//!   the aborted one is never visible;
//! - `read_committed` equals `read_uncommitted` minus the invisible transactions (nothing
//!   open holds any partition back: every LSO equals its end offset, including the internal
//!   topics');
//! - acknowledged plain appends survive (`Durability::Immediate`);
//! - `committed_offsets(group)` is the position written by the last visible transaction;
//! - the transactional ids work again: a new transaction commits and is visible.
//!
//! Each crash point runs four rounds (storage seed and tear mode vary); every other round
//! also crashes again during the first recovery. The sweep runs with
//! `Durability::Immediate` and again with `Durability::None` (where only what transactions
//! sync is promised). A failure prints the configuration, crash point and round.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use common::*;
use exactly_core::{ManualClock, Offset, SimStorage, TearMode};
use exactly_log::{Durability, Isolation, Log, LogConfig, TransactionalProducer, TxnState};
use std::collections::{BTreeMap, BTreeSet};

const TEARS: [TearMode; 4] = [
    TearMode::DropUnsynced,
    TearMode::KeepPrefix,
    TearMode::PrefixThenGarbage,
    TearMode::PrefixThenZeros,
];
const PARTS: [(&str, u32); 4] = [("in", 0), ("out", 0), ("out", 1), ("side", 0)];
const GROUP: &str = "g";

fn config(durability: Durability) -> LogConfig {
    LogConfig {
        durability,
        segment_bytes_max: 4096,
        batch_bytes_max: 1024,
        index_interval_bytes: 512,
        ..LogConfig::default()
    }
}

/// A transaction of the workload.
struct TxnSpec {
    name: &'static str,
    sends: Vec<(&'static str, u32, usize)>,
    position: Option<u64>,
    commit: bool,
}

fn specs() -> Vec<TxnSpec> {
    let t = |name, sends, position, commit| TxnSpec {
        name,
        sends,
        position,
        commit,
    };
    vec![
        t("T1", vec![("out", 0, 2), ("out", 1, 1)], Some(3), true),
        t("U1", vec![("side", 0, 2), ("out", 0, 1)], None, true),
        t("T2", vec![("out", 0, 1), ("side", 0, 1)], Some(99), false),
        t("T3", vec![("out", 1, 3)], Some(7), true),
        t(
            "T4",
            vec![("out", 0, 1), ("out", 1, 1), ("side", 0, 1)],
            Some(10),
            true,
        ),
    ]
}

/// Values of a spec's records per partition (a send's values are `NAME-sK-rJ`).
fn spec_values(spec: &TxnSpec) -> BTreeMap<(&'static str, u32), Vec<String>> {
    let mut out: BTreeMap<_, Vec<String>> = BTreeMap::new();
    for (k, (topic, partition, count)) in spec.sends.iter().enumerate() {
        for j in 0..*count {
            out.entry((*topic, *partition))
                .or_default()
                .push(format!("{}-s{k}-r{j}", spec.name));
        }
    }
    out
}

/// What the workload got acknowledged before it stopped.
#[derive(Default, Debug)]
struct Progress {
    committed_ok: BTreeSet<&'static str>,
    plain_acked: Vec<((&'static str, u32), String)>,
}

type Step = Result<(), String>;

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

fn send(producer: &mut TransactionalProducer<'_>, spec: &TxnSpec, k: usize) -> Step {
    let (topic, partition, count) = spec.sends[k];
    let records: Vec<_> = (0..count)
        .map(|j| {
            let value = format!("{}-s{k}-r{j}", spec.name);
            rec(k as i64, None, value.as_bytes())
        })
        .collect();
    producer.send(topic, partition, &records).map_err(err)?;
    Ok(())
}

fn plain(
    log: &Log,
    progress: &mut Progress,
    topic: &'static str,
    partition: u32,
    n: usize,
) -> Step {
    for j in 0..n {
        let value = format!("P-{topic}{partition}-{}", progress.plain_acked.len() + j);
        let _ = j;
        log.append(topic, partition, &[rec(0, None, value.as_bytes())], None)
            .map_err(err)?;
        progress.plain_acked.push(((topic, partition), value));
    }
    Ok(())
}

fn positions(producer: &mut TransactionalProducer<'_>, spec: &TxnSpec) -> Step {
    if let Some(position) = spec.position {
        producer
            .add_offsets(GROUP, &[("in".to_string(), 0, Offset(position))])
            .map_err(err)?;
    }
    Ok(())
}

fn finish(
    producer: &mut TransactionalProducer<'_>,
    spec: &TxnSpec,
    progress: &mut Progress,
) -> Step {
    if spec.commit {
        producer.commit().map_err(err)?;
        progress.committed_ok.insert(spec.name);
    } else {
        producer.abort().map_err(err)?;
    }
    Ok(())
}

fn open_and_create(
    storage: &SimStorage,
    clock: &ManualClock,
    durability: Durability,
) -> Result<Log, String> {
    let log = open_sim(storage, clock, config(durability)).map_err(err)?;
    log.create_topic("in", 1).map_err(err)?;
    log.create_topic("out", 2).map_err(err)?;
    log.create_topic("side", 1).map_err(err)?;
    Ok(log)
}

/// The workload; stops at the first failure.
fn workload(log: &Log, progress: &mut Progress) -> Step {
    let s = specs();
    let (t1, u1, t2, t3, t4) = (&s[0], &s[1], &s[2], &s[3], &s[4]);
    plain(log, progress, "in", 0, 12)?;
    let mut t = log.transactional_producer("t", 60_000).map_err(err)?;
    let mut u = log.transactional_producer("u", 60_000).map_err(err)?;
    t.begin().map_err(err)?;
    send(&mut t, t1, 0)?;
    send(&mut t, t1, 1)?;
    positions(&mut t, t1)?;
    finish(&mut t, t1, progress)?;
    u.begin().map_err(err)?;
    send(&mut u, u1, 0)?;
    t.begin().map_err(err)?;
    send(&mut t, t2, 0)?;
    send(&mut t, t2, 1)?;
    positions(&mut t, t2)?;
    finish(&mut t, t2, progress)?;
    plain(log, progress, "out", 1, 2)?;
    t.begin().map_err(err)?;
    send(&mut t, t3, 0)?;
    positions(&mut t, t3)?;
    t.prepare().map_err(err)?;
    send(&mut u, u1, 1)?;
    finish(&mut t, t3, progress)?;
    finish(&mut u, u1, progress)?;
    t.begin().map_err(err)?;
    for k in 0..t4.sends.len() {
        send(&mut t, t4, k)?;
    }
    positions(&mut t, t4)?;
    finish(&mut t, t4, progress)?;
    plain(log, progress, "side", 0, 1)?;
    Ok(())
}

fn txn_of(value: &str) -> Option<&str> {
    value.split('-').next().filter(|name| *name != "P")
}

/// Checks the recovered log against what the workload was told.
fn check(log: &Log, progress: &Progress, durability: Durability) {
    let s = specs();
    let mut visible: BTreeSet<String> = BTreeSet::new();
    let mut committed: BTreeMap<(&str, u32), Vec<(u64, String)>> = BTreeMap::new();
    for (topic, partition) in PARTS {
        let records = read_all_with(log, topic, partition, Isolation::ReadCommitted);
        for (_, value) in &records {
            if let Some(name) = txn_of(value) {
                visible.insert(name.to_string());
            }
        }
        committed.insert((topic, partition), records);
    }
    for spec in &s {
        let is_visible = visible.contains(spec.name);
        if progress.committed_ok.contains(spec.name) {
            assert!(is_visible, "{} committed Ok but is not visible", spec.name);
        }
        if !spec.commit {
            assert!(!is_visible, "aborted {} is visible", spec.name);
        }
        if !is_visible {
            continue;
        }
        for ((topic, partition), values) in spec_values(spec) {
            let seen = &committed[&(topic, partition)];
            for value in values {
                let n = seen.iter().filter(|(_, v)| *v == value).count();
                assert_eq!(
                    n, 1,
                    "{value} of visible {} in {topic}/{partition}",
                    spec.name
                );
            }
        }
    }
    for (topic, partition) in PARTS {
        let all = read_all_with(log, topic, partition, Isolation::ReadUncommitted);
        let expected: Vec<_> = all
            .into_iter()
            .filter(|(_, v)| txn_of(v).is_none_or(|name| visible.contains(name)))
            .collect();
        assert_eq!(
            committed[&(topic, partition)],
            expected,
            "{topic}/{partition}: read_committed = read_uncommitted minus invisible txns"
        );
    }
    if durability == Durability::Immediate {
        for ((topic, partition), value) in &progress.plain_acked {
            let n = committed[&(*topic, *partition)]
                .iter()
                .filter(|(_, v)| v == value)
                .count();
            assert_eq!(n, 1, "acknowledged plain {value}");
        }
    }
    for (topic, count) in log.topics() {
        for partition in 0..count {
            let info = log.partition_info(&topic, partition).unwrap();
            assert!(
                info.open_transactions.is_empty(),
                "{topic}/{partition}: open after recovery: {:?}",
                info.open_transactions
            );
            assert_eq!(
                info.last_stable_offset, info.end_offset,
                "{topic}/{partition}: LSO held back"
            );
        }
    }
    let last_position = s
        .iter()
        .filter(|spec| spec.commit && visible.contains(spec.name))
        .filter_map(|spec| spec.position)
        .next_back();
    let offsets = log.committed_offsets(GROUP).unwrap();
    assert_eq!(
        offsets.get(&("in".to_string(), 0)).copied(),
        last_position.map(Offset),
        "committed offsets agree with the visible outputs"
    );
}

/// After the reopen: a transaction left prepared is resumed and committed.
fn resume_prepared(log: &Log) {
    for meta in log.transactions().unwrap() {
        if meta.state == TxnState::Prepared {
            let mut producer = log
                .transactional_producer(&meta.transactional_id, 60_000)
                .unwrap();
            assert!(
                producer.is_prepared(),
                "{} resumes prepared",
                meta.transactional_id
            );
            producer.commit().unwrap();
        }
    }
}

/// The ids work again after recovery.
fn use_again(log: &Log) {
    for id in ["t", "u"] {
        let mut producer = log.transactional_producer(id, 60_000).unwrap();
        producer.begin().unwrap();
        let value = format!("AGAIN{id}-x");
        producer
            .send("out", 1, &[rec(0, None, value.as_bytes())])
            .unwrap();
        producer.commit().unwrap();
        let seen = read_all_with(log, "out", 1, Isolation::ReadCommitted);
        assert_eq!(seen.iter().filter(|(_, v)| *v == value).count(), 1);
    }
}

fn mutations_of_clean_run(durability: Durability) -> u64 {
    let storage = SimStorage::new(1);
    let clock = ManualClock::new(1_000_000);
    let log = open_and_create(&storage, &clock, durability).unwrap();
    let mut progress = Progress::default();
    workload(&log, &mut progress).unwrap();
    assert_eq!(progress.committed_ok.len(), 4);
    check(&log, &progress, durability);
    storage.mutation_count()
}

/// A recovery that may itself be cut short by the storage stopping.
fn try_recover(
    storage: &SimStorage,
    clock: &ManualClock,
    durability: Durability,
) -> Result<(), String> {
    let log = open_and_create(storage, clock, durability)?;
    for meta in log.transactions().map_err(err)? {
        if meta.state == TxnState::Prepared {
            let mut producer = log
                .transactional_producer(&meta.transactional_id, 60_000)
                .map_err(err)?;
            producer.commit().map_err(err)?;
        }
    }
    Ok(())
}

/// Rounds per crash point: each with its own storage seed and tear mode, every other one
/// also crashing during the first recovery.
const ROUNDS: u64 = 4;

fn sweep(durability: Durability) {
    let n = mutations_of_clean_run(durability);
    assert!(n > 50, "the workload does I/O ({n} mutations)");
    for i in 0..n {
        for round in 0..ROUNDS {
            let tear = TEARS[((i + round) % TEARS.len() as u64) as usize];
            let second_crash = (i + round) % 2 == 1;
            let result = std::panic::catch_unwind(|| {
                let storage = SimStorage::new(i * ROUNDS + round);
                let clock = ManualClock::new(1_000_000);
                storage.crash_after_mutations(i);
                let mut progress = Progress::default();
                if let Ok(log) = open_and_create(&storage, &clock, durability) {
                    let outcome = workload(&log, &mut progress);
                    // The trailing-marker syncer runs on its own thread after a linger,
                    // so a run may need a few I/Os fewer than the clean run counted (its
                    // work folded into the producer's next sync): a crash point near
                    // the end may then lie past this run's last I/O. Any other run must
                    // be stopped by its crash point.
                    assert!(
                        outcome.is_err() || storage.mutation_count() <= i,
                        "crash point {i} < {n} must stop the workload (it made {} I/Os)",
                        storage.mutation_count()
                    );
                }
                storage.crash(tear);
                if second_crash {
                    storage.crash_after_mutations((i + round) % 40);
                    let _ = try_recover(&storage, &clock, durability);
                    storage.crash(tear);
                }
                let log = open_and_create(&storage, &clock, durability)
                    .unwrap_or_else(|e| panic!("reopen failed: {e}"));
                resume_prepared(&log);
                check(&log, &progress, durability);
                use_again(&log);
            });
            if let Err(panic) = result {
                eprintln!(
                    "FAILED at crash point {i} of {n}, round {round} ({durability:?}, tear \
                     {tear:?}, second crash during recovery: {second_crash})"
                );
                std::panic::resume_unwind(panic);
            }
        }
    }
}

#[test]
fn every_crash_point_leaves_transactions_all_or_nothing_immediate() {
    sweep(Durability::Immediate);
}

#[test]
fn every_crash_point_leaves_transactions_all_or_nothing_no_fsync() {
    sweep(Durability::None);
}
