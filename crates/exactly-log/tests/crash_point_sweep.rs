//! Crash-point sweep: a workload of idempotent appends (3 producers × 2 partitions, 1-3
//! records per batch, 4 KiB segments so rolls, index writes and producer snapshots happen,
//! `Durability::Immediate`, a clean close and reopen half-way) is run once without faults to count its storage mutations N and
//! learn the offsets of every batch. Then for every crash point `i` in `0..N`: fresh
//! `SimStorage`, `crash_after_mutations(i)`, run until something fails, `crash(tear)` with
//! the tear mode cycling through all four, reopen, and check
//! - every acknowledged batch is present exactly once, in order, at its acknowledged offsets,
//!   and at most the one unacknowledged batch follows it (whole, at its would-be offsets);
//! - the producer state resumes where the log ends;
//! - resuming the workload from the first unacknowledged batch with the same sequences gets
//!   `Duplicate` (original offsets) for that batch if it survived the crash, `Appended` at
//!   the reference offsets otherwise, and the final log equals the workload exactly once.
//!
//! Every other crash point crashes a second time while the reopened log recovers and
//! resumes (a crash point in the first 40 mutations after the restart), so recovery itself
//! is crash-safe. Failures print the seed and crash point; rerun one with `EXACTLY_SEED` (and the seeds
//! loop with `EXACTLY_SEEDS=n`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use common::*;
use exactly_core::{ManualClock, Offset, ProducerId, Sequence, SimStorage, TearMode};
use exactly_log::{AppendOutcome, Durability, Log, LogConfig, Record, StoredRecord};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const TOPIC: &str = "sweep";
const PARTITIONS: u32 = 2;
const PRODUCERS: u64 = 3;
const OPS: usize = 1_000;
/// Before this op the workload closes the log cleanly and reopens it.
const CLOSE_AT: usize = OPS / 2;
const TEARS: [TearMode; 4] = [
    TearMode::DropUnsynced,
    TearMode::KeepPrefix,
    TearMode::PrefixThenGarbage,
    TearMode::PrefixThenZeros,
];

fn config() -> LogConfig {
    LogConfig {
        durability: Durability::Immediate,
        segment_bytes_max: 4096,
        batch_bytes_max: 1024,
        index_interval_bytes: 512,
        ..LogConfig::default()
    }
}

struct Op {
    producer: u64,
    partition: u32,
    seq: u64,
    records: Vec<Record>,
}

fn workload(seed: u64) -> Vec<Op> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut next_seq = vec![vec![0u64; PARTITIONS as usize]; PRODUCERS as usize];
    (0..OPS)
        .map(|i| {
            let producer = rng.random_range(0..PRODUCERS);
            let partition = rng.random_range(0..PARTITIONS);
            let count = rng.random_range(1..=3u64);
            let records = (0..count)
                .map(|j| {
                    let value = format!(
                        "p{producer}-op{i}-r{j}-{}",
                        "x".repeat(rng.random_range(0..40))
                    );
                    rec(
                        i as i64,
                        Some(format!("k{producer}").as_bytes()),
                        value.as_bytes(),
                    )
                })
                .collect();
            let seq = &mut next_seq[producer as usize][partition as usize];
            let op = Op {
                producer,
                partition,
                seq: *seq,
                records,
            };
            *seq += count;
            op
        })
        .collect()
}

/// Reference offsets (base, last) of every op, from a fault-free run.
struct Reference {
    offsets: Vec<(u64, u64)>,
    mutations: u64,
}

fn open_and_create(storage: &SimStorage, clock: &ManualClock) -> Option<Log> {
    let log = open_sim(storage, clock, config()).ok()?;
    log.create_topic(TOPIC, PARTITIONS).ok()?;
    Some(log)
}

fn reference(seed: u64, ops: &[Op]) -> Reference {
    let storage = SimStorage::new(seed);
    let clock = ManualClock::new(0);
    let mut log = open_and_create(&storage, &clock).unwrap();
    let mut offsets = Vec::new();
    for (k, op) in ops.iter().enumerate() {
        if k == CLOSE_AT {
            log.close().unwrap();
            log = open_sim(&storage, &clock, config()).unwrap();
        }
        let stamp = stamp(op.producer, 0, op.seq);
        match log.append(TOPIC, op.partition, &op.records, Some(stamp)) {
            Ok(AppendOutcome::Appended {
                base_offset,
                last_offset,
            }) => offsets.push((base_offset.0, last_offset.0)),
            other => panic!("reference run: {other:?}"),
        }
    }
    let mutations = storage.mutation_count();
    let info = log.partition_info(TOPIC, 0).unwrap();
    assert!(info.segments > 5, "the workload rolls segments: {info:?}");
    Reference { offsets, mutations }
}

/// The records the log should hold in `partition` after ops `..n` (in workload order).
fn expected(ops: &[Op], reference: &Reference, n: usize, partition: u32) -> Vec<StoredRecord> {
    ops[..n]
        .iter()
        .zip(&reference.offsets)
        .filter(|(op, _)| op.partition == partition)
        .flat_map(|(op, (base, _))| {
            op.records
                .iter()
                .enumerate()
                .map(move |(i, r)| stored(base + i as u64, r))
        })
        .collect()
}

/// Producer state after ops `..n`: last sequence per (producer, partition).
fn expected_last_seq(ops: &[Op], n: usize, producer: u64, partition: u32) -> Option<Sequence> {
    ops[..n]
        .iter()
        .rev()
        .find(|op| op.producer == producer && op.partition == partition)
        .map(|op| Sequence(op.seq + op.records.len() as u64 - 1))
}

fn check_log(log: &Log, ops: &[Op], reference: &Reference, n: usize, ctx: &str) {
    for p in 0..PARTITIONS {
        let got = read_all(log, TOPIC, p);
        let want = expected(ops, reference, n, p);
        assert!(
            got == want,
            "{ctx}: partition {p} holds {} records, expected {} (after {n} ops)",
            got.len(),
            want.len()
        );
        for producer in 0..PRODUCERS {
            let state = log
                .producer_state(TOPIC, p, ProducerId(producer))
                .unwrap()
                .and_then(|s| s.last_sequence);
            assert_eq!(
                state,
                expected_last_seq(ops, n, producer, p),
                "{ctx}: producer {producer} on partition {p}"
            );
        }
    }
}

fn crash_point(seed: u64, i: u64, ops: &[Op], reference: &Reference) {
    let tear = TEARS[(i % 4) as usize];
    let ctx = format!(
        "seed {seed}, crash point {i} of {}, {tear:?}",
        reference.mutations
    );
    let storage = SimStorage::new(seed ^ i.wrapping_mul(0x9e37_79b9));
    let clock = ManualClock::new(0);
    storage.crash_after_mutations(i);
    // Phase 1: run until the machine stops.
    let mut acked = 0;
    if let Some(mut log) = open_and_create(&storage, &clock) {
        for (k, op) in ops.iter().enumerate() {
            if k == CLOSE_AT {
                // A clean close (producer snapshot at the end) and reopen mid-workload.
                if log.close().is_err() {
                    break;
                }
                match open_sim(&storage, &clock, config()) {
                    Ok(reopened) => log = reopened,
                    Err(_) => break,
                }
            }
            let stamp = stamp(op.producer, 0, op.seq);
            match log.append(TOPIC, op.partition, &op.records, Some(stamp)) {
                Ok(AppendOutcome::Appended {
                    base_offset,
                    last_offset,
                }) => {
                    assert_eq!(
                        (base_offset.0, last_offset.0),
                        reference.offsets[k],
                        "{ctx}: op {k} acknowledged at other offsets than the reference"
                    );
                    acked = k + 1;
                }
                Ok(other) => panic!("{ctx}: op {k}: unexpected {other:?}"),
                Err(_) => break,
            }
        }
    }
    assert!(
        storage.is_crashed(),
        "{ctx}: the crash point was never reached"
    );
    storage.crash(tear);

    // Every other crash point also crashes a second time, during recovery or soon after
    // it (within the first 40 mutations after the restart), with another tear mode.
    if i % 2 == 1 {
        let j = i.wrapping_mul(7919) % 40;
        storage.crash_after_mutations(j);
        let ctx2 = format!("{ctx}, second crash after {j} mutations");
        match resume(&storage, &clock, ops, reference, &mut acked, &ctx2) {
            false => storage.crash(TEARS[((i / 4) % 4) as usize]),
            // Finished in fewer than `j` mutations: the second crash point was not reached.
            true => storage.clear_crash_point(),
        }
    }
    assert!(
        resume(&storage, &clock, ops, reference, &mut acked, &ctx),
        "{ctx}: the resumed workload failed without a crash"
    );
}

/// Reopens, checks what survived, and resumes the workload from the first unacknowledged
/// op with the same sequences. Returns whether the workload completed (false: the storage
/// stopped on the way).
fn resume(
    storage: &SimStorage,
    clock: &ManualClock,
    ops: &[Op],
    reference: &Reference,
    acked: &mut usize,
    ctx: &str,
) -> bool {
    let log = match open_sim(storage, clock, config()) {
        Ok(log) => log,
        Err(_) if storage.is_crashed() => return false,
        Err(e) => panic!("{ctx}: reopen failed: {e}"),
    };
    if log.partition_count(TOPIC).is_none() {
        assert_eq!(*acked, 0, "{ctx}: topic lost after acknowledged appends");
        if log.create_topic(TOPIC, PARTITIONS).is_err() {
            assert!(storage.is_crashed(), "{ctx}: create_topic failed");
            return false;
        }
    }
    // At most the one unacknowledged op may have survived, whole.
    let survived = *acked < ops.len() && {
        let op = &ops[*acked];
        let end = log.partition_info(TOPIC, op.partition).unwrap().end_offset;
        end.0 > expected(ops, reference, *acked, op.partition).len() as u64
    };
    let present = *acked + usize::from(survived);
    check_log(&log, ops, reference, present, ctx);

    for (k, op) in ops.iter().enumerate().skip(*acked) {
        let stamp = stamp(op.producer, 0, op.seq);
        let outcome = match log.append(TOPIC, op.partition, &op.records, Some(stamp)) {
            Ok(outcome) => outcome,
            Err(_) if storage.is_crashed() => return false,
            Err(e) => panic!("{ctx}: resumed op {k}: {e}"),
        };
        let (base, last) = reference.offsets[k];
        let want = match k < present {
            true => AppendOutcome::Duplicate {
                original: Some((Offset(base), Offset(last))),
            },
            false => AppendOutcome::Appended {
                base_offset: Offset(base),
                last_offset: Offset(last),
            },
        };
        assert_eq!(outcome, want, "{ctx}: resumed op {k}");
        *acked = k + 1;
    }
    check_log(&log, ops, reference, ops.len(), ctx);
    true
}

#[test]
fn every_crash_point_keeps_acknowledged_appends_exactly_once() {
    for seed in seeds(0xc4a5) {
        let ops = workload(seed);
        let reference = reference(seed, &ops);
        let started = std::time::Instant::now();
        let threads = 2u64;
        std::thread::scope(|scope| {
            for t in 0..threads {
                let (ops, reference) = (&ops, &reference);
                scope.spawn(move || {
                    for i in (t..reference.mutations).step_by(threads as usize) {
                        let run = std::panic::catch_unwind(|| crash_point(seed, i, ops, reference));
                        if let Err(panic) = run {
                            eprintln!(
                                "FAILED at crash point {i} with seed {seed} \
                                 (rerun with EXACTLY_SEED={seed})"
                            );
                            std::panic::resume_unwind(panic);
                        }
                    }
                });
            }
        });
        eprintln!(
            "seed {seed}: {} crash points checked in {:?}",
            reference.mutations,
            started.elapsed()
        );
    }
}
