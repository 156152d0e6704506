//! The positions snapshot: committed consumer positions read after an open come from the
//! snapshot plus the records of `__consumer_offsets` after it, and equal what a scan of
//! the whole history gives; a snapshot that does not check is refused with a typed error;
//! and a crash at any storage mutation of a workload that commits positions plainly and in
//! transactions (snapshots written every few records) keeps every acknowledged position.
//!
//! The oracle is a map of positions the test keeps itself: a plain commit applies once
//! `commit_offsets` returned, a transaction's once `commit` returned, an abort never.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use common::*;
use exactly_core::{ManualClock, Offset, SimStorage, Storage, TearMode};
use exactly_log::txn::offsets_snapshot::{OffsetsSnapshot, SnapshotPosition, FILE_NAME, VERSION};
use exactly_log::{Log, LogConfig, TxnError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const GROUPS: [&str; 3] = ["g0", "g1", "g2"];
/// Group → (topic, partition) → position.
type Expected = BTreeMap<String, BTreeMap<(String, u32), Offset>>;

fn snapshot_path() -> PathBuf {
    Path::new(LOG_DIR).join(FILE_NAME)
}

/// One step of the workload: which group commits which position, and how.
#[derive(Clone, Copy, Debug)]
enum Step {
    Plain {
        group: usize,
        position: u64,
    },
    Transaction {
        group: usize,
        position: u64,
        commit: bool,
    },
}

fn steps(count: u64) -> Vec<Step> {
    (0..count)
        .map(|i| {
            let group = (i % 3) as usize;
            let position = i * 10 + 1;
            match i % 4 {
                0 | 2 => Step::Plain { group, position },
                1 => Step::Transaction {
                    group,
                    position,
                    commit: true,
                },
                _ => Step::Transaction {
                    group,
                    position,
                    commit: i % 8 == 3,
                },
            }
        })
        .collect()
}

/// The positions a step writes: two partitions of topic `in`, so a step is all or nothing.
fn positions_of(position: u64) -> Vec<(String, u32, Offset)> {
    vec![
        ("in".to_string(), 0, Offset(position)),
        ("in".to_string(), 1, Offset(position + 1)),
    ]
}

fn apply(expected: &mut Expected, group: usize, position: u64) {
    let group = expected.entry(GROUPS[group].to_string()).or_default();
    for (topic, partition, offset) in positions_of(position) {
        group.insert((topic, partition), offset);
    }
}

/// Runs one step; returns `Ok(true)` when it was acknowledged as committed.
fn run_step(log: &Log, step: Step) -> Result<bool, TxnError> {
    match step {
        Step::Plain { group, position } => {
            log.commit_offsets(GROUPS[group], &positions_of(position))?;
            Ok(true)
        }
        Step::Transaction {
            group,
            position,
            commit,
        } => {
            let mut producer = log.transactional_producer("copier", 60_000)?;
            producer.begin()?;
            producer.add_offsets(GROUPS[group], &positions_of(position))?;
            match commit {
                true => producer.commit()?,
                false => producer.abort()?,
            }
            Ok(commit)
        }
    }
}

/// The positions of every group as the log reports them.
fn observed(log: &Log) -> Result<Expected, TxnError> {
    let mut all = Expected::new();
    for group in GROUPS {
        let positions = log.committed_offsets(group)?;
        if !positions.is_empty() {
            all.insert(group.to_string(), positions);
        }
    }
    Ok(all)
}

fn open(storage: &SimStorage, clock: &ManualClock, interval: u64) -> Log {
    let log = open_sim(storage, clock, LogConfig::default()).unwrap();
    log.set_transaction_snapshot_interval(Some(interval));
    log
}

fn read_snapshot(storage: &SimStorage) -> OffsetsSnapshot {
    let bytes = exactly_core::storage::read_file(storage, &snapshot_path()).unwrap();
    OffsetsSnapshot::decode(&bytes, &snapshot_path()).unwrap()
}

#[test]
fn reading_positions_from_the_snapshot_equals_scanning_the_whole_history() {
    let storage = SimStorage::new(11);
    let clock = ManualClock::new(1_000_000);
    let mut expected = Expected::new();
    {
        let log = open(&storage, &clock, 7);
        for step in steps(60) {
            if run_step(&log, step).unwrap() {
                let (Step::Plain { group, position }
                | Step::Transaction {
                    group, position, ..
                }) = step;
                apply(&mut expected, group, position);
            }
        }
        assert_eq!(observed(&log).unwrap(), expected, "before reopening");
        log.close().unwrap();
    }
    let snapshot = read_snapshot(&storage);
    assert!(
        snapshot.next_offset > 60,
        "snapshots were written: {snapshot:?}"
    );

    let log = open(&storage, &clock, 7);
    assert_eq!(observed(&log).unwrap(), expected, "from the snapshot");
    log.close().unwrap();
    storage.remove_file(&snapshot_path()).unwrap();
    let log = open(&storage, &clock, 0);
    assert_eq!(observed(&log).unwrap(), expected, "from the whole history");
    log.close().unwrap();

    // The snapshot is what is read below its offset: a position only it holds shows.
    let mut planted = snapshot.clone();
    planted.positions.push(SnapshotPosition {
        group: "g2".into(),
        topic: "planted".into(),
        partition: 0,
        offset: 4242,
        source: 0,
    });
    storage
        .overwrite_bytes(&snapshot_path(), planted.encode().unwrap())
        .unwrap();
    let log = open(&storage, &clock, 0);
    let g2 = log.committed_offsets("g2").unwrap();
    assert_eq!(g2.get(&("planted".to_string(), 0)), Some(&Offset(4242)));
    log.close().unwrap();
}

#[test]
fn a_positions_snapshot_with_a_bad_crc_or_an_unknown_version_is_refused() {
    let storage = SimStorage::new(12);
    let clock = ManualClock::new(1_000_000);
    {
        let log = open(&storage, &clock, 0);
        log.commit_offsets("g0", &positions_of(5)).unwrap();
        log.snapshot_transactions().unwrap();
        log.close().unwrap();
    }
    let good = exactly_core::storage::read_file(&storage, &snapshot_path()).unwrap();

    // A well-formed frame (its CRC covers the header) of a newer version.
    let body = &good[exactly_core::framing::HEADER_BYTES..];
    let newer_kind = exactly_core::framing::FrameKind {
        magic: *b"EXCO",
        version: VERSION + 1,
        body_bytes_max: 1 << 30,
    };
    let newer = exactly_core::framing::encode(&newer_kind, body).unwrap();
    storage.overwrite_bytes(&snapshot_path(), newer).unwrap();
    let log = open(&storage, &clock, 0);
    let error = log.committed_offsets("g0").unwrap_err();
    assert!(
        matches!(error, TxnError::SnapshotVersion { version, .. } if version == VERSION + 1),
        "{error:?}"
    );
    log.close().unwrap();

    let mut flipped = good.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x01;
    storage.overwrite_bytes(&snapshot_path(), flipped).unwrap();
    let log = open(&storage, &clock, 0);
    let error = log.committed_offsets("g0").unwrap_err();
    assert!(
        matches!(error, TxnError::SnapshotCorrupt { .. }),
        "{error:?}"
    );
    log.close().unwrap();

    storage.overwrite_bytes(&snapshot_path(), good).unwrap();
    let log = open(&storage, &clock, 0);
    let g0 = log.committed_offsets("g0").unwrap();
    assert_eq!(g0.get(&("in".to_string(), 1)), Some(&Offset(6)));
    log.close().unwrap();
}

/// Runs the workload until a step fails: the positions acknowledged, and those if the
/// step in flight took effect.
fn run_until_crash(log: &Log, steps: &[Step]) -> (Expected, Expected) {
    let mut acked = Expected::new();
    for step in steps {
        let (Step::Plain { group, position }
        | Step::Transaction {
            group, position, ..
        }) = *step;
        let commits = !matches!(step, Step::Transaction { commit: false, .. });
        let mut if_applied = acked.clone();
        if commits {
            apply(&mut if_applied, group, position);
        }
        match run_step(log, *step) {
            Ok(_) => acked = if_applied,
            Err(_) => return (acked, if_applied),
        }
    }
    (acked.clone(), acked)
}

#[test]
fn a_crash_at_any_mutation_keeps_every_acknowledged_position() {
    const TEARS: [TearMode; 4] = [
        TearMode::DropUnsynced,
        TearMode::KeepPrefix,
        TearMode::PrefixThenGarbage,
        TearMode::PrefixThenZeros,
    ];
    let workload = steps(24);
    let clock = ManualClock::new(1_000_000);
    let mutations = {
        let storage = SimStorage::new(1);
        let log = open(&storage, &clock, 3);
        run_until_crash(&log, &workload);
        storage.mutation_count()
    };
    for seed in seeds(100) {
        with_seed(seed, |seed| {
            for crash_at in 0..mutations {
                let storage = SimStorage::new(seed ^ crash_at);
                let log = open(&storage, &clock, 3);
                storage.crash_after_mutations(crash_at);
                let (acked, if_applied) = run_until_crash(&log, &workload);
                drop(log);
                storage.crash(TEARS[(crash_at % 4) as usize]);
                let log = open(&storage, &clock, 3);
                let after = observed(&log).unwrap();
                assert!(
                    after == acked || after == if_applied,
                    "crash at mutation {crash_at}/{mutations}: positions {after:?}, \
                     acknowledged {acked:?}"
                );
                // Committing again works and reads back.
                log.commit_offsets("g1", &positions_of(9_000)).unwrap();
                let g1 = log.committed_offsets("g1").unwrap();
                assert_eq!(g1.get(&("in".to_string(), 0)), Some(&Offset(9_000)));
            }
        });
    }
}
