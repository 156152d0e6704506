//! Group commit under concurrency: several producer threads append idempotently to shared
//! partitions (`Durability::Immediate`, small segments so rolls race with syncs) while a
//! reader follows the tail, and the machine crashes at a random moment (a storage mutation
//! count chosen by the seed) with a random tear mode. After reopening, every acknowledged
//! batch is present exactly once at its acknowledged offsets, each producer's batches are
//! in sequence order, readers never saw a record that is not in the recovered log, and each
//! producer resumes from its first unacknowledged batch with `Duplicate` or `Appended`.
//! Odd seeds run with `Durability::Interval(1)`: there only a prefix of the acknowledged
//! batches is guaranteed, but readers still never see what the crash takes back.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use common::*;
use exactly_core::{ManualClock, Offset, SimStorage, TearMode};
use exactly_log::{AppendOutcome, Durability, LogConfig, StoredRecord};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const TOPIC: &str = "gc";
const THREADS: u64 = 4;
const BATCHES: u64 = 150;

fn config(durability: Durability) -> LogConfig {
    LogConfig {
        durability,
        segment_bytes_max: 4096,
        batch_bytes_max: 1024,
        index_interval_bytes: 512,
        ..LogConfig::default()
    }
}

fn value(producer: u64, batch: u64) -> Vec<u8> {
    format!("p{producer}-b{batch}-{}", "v".repeat((batch % 50) as usize)).into_bytes()
}

fn run(seed: u64) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let tear = [
        TearMode::DropUnsynced,
        TearMode::KeepPrefix,
        TearMode::PrefixThenGarbage,
        TearMode::PrefixThenZeros,
    ][rng.random_range(0..4)];
    // Odd seeds use interval durability: acknowledged is then not durable, but a reader
    // still never sees a record that a crash can take back.
    let durability = match seed % 2 {
        0 => Durability::Immediate,
        _ => Durability::Interval(1),
    };
    let immediate = durability == Durability::Immediate;
    let storage = SimStorage::new(seed);
    let clock = ManualClock::new(0);
    let log = Arc::new(open_sim(&storage, &clock, config(durability)).unwrap());
    log.create_topic(TOPIC, 2).unwrap();
    let crash_at = storage.mutation_count() + rng.random_range(50..1_200);
    storage.crash_after_mutations(crash_at);
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (log, stop) = (Arc::clone(&log), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut seen: Vec<Vec<StoredRecord>> = vec![Vec::new(), Vec::new()];
            'follow: while !stop.load(Ordering::Relaxed) {
                for (p, seen) in seen.iter_mut().enumerate() {
                    let next = Offset(seen.len() as u64);
                    match log.read(TOPIC, p as u32, next, 100) {
                        Ok(got) => seen.extend(got),
                        Err(_) => break 'follow,
                    }
                }
                std::thread::sleep(Duration::from_micros(50));
            }
            seen
        })
    };
    let writers: Vec<_> = (0..THREADS)
        .map(|producer| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                let part = (producer % 2) as u32;
                let mut acked = Vec::new();
                for b in 0..BATCHES {
                    let records = [rec(b as i64, None, &value(producer, b))];
                    match log.append(TOPIC, part, &records, Some(stamp(producer, 0, b))) {
                        Ok(AppendOutcome::Appended { base_offset, .. }) => {
                            acked.push(base_offset.0)
                        }
                        Ok(other) => panic!("seed {seed}: producer {producer}: {other:?}"),
                        Err(_) => break,
                    }
                }
                acked
            })
        })
        .collect();
    let acked: Vec<Vec<u64>> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    stop.store(true, Ordering::Relaxed);
    let seen = reader.join().unwrap();
    drop(log);
    storage.crash(tear);

    let log = open_sim(&storage, &clock, config(durability)).unwrap();
    let ctx = format!("seed {seed}, crash after {crash_at} mutations, {tear:?}, {durability:?}");
    let mut contents: Vec<Vec<StoredRecord>> = Vec::new();
    for p in 0..2u32 {
        let all = read_all(&log, TOPIC, p);
        // Records seen by the reader before the crash are all still there.
        let seen = &seen[p as usize];
        assert!(
            all.len() >= seen.len() && all[..seen.len()] == seen[..],
            "{ctx}: partition {p}: a reader saw records the crash took back"
        );
        contents.push(all);
    }
    // Per producer: sequence order, exactly once, acknowledged ones at their offsets.
    let mut resume_from = BTreeMap::new();
    for producer in 0..THREADS {
        let part = (producer % 2) as usize;
        let mine: Vec<&StoredRecord> = contents[part]
            .iter()
            .filter(|r| r.value.starts_with(format!("p{producer}-").as_bytes()))
            .collect();
        for (b, r) in mine.iter().enumerate() {
            assert_eq!(
                r.value,
                value(producer, b as u64),
                "{ctx}: producer {producer}"
            );
        }
        let acked = &acked[producer as usize];
        if !immediate {
            // Acknowledged before the interval's sync: only a prefix is guaranteed.
            for (b, r) in mine.iter().enumerate() {
                if let Some(offset) = acked.get(b) {
                    assert_eq!(r.offset, Offset(*offset), "{ctx}: producer {producer}");
                }
            }
            assert!(mine.len() <= acked.len() + 1, "{ctx}: producer {producer}");
            let present = mine.len() as u64;
            resume_from.insert(producer, (present.min(acked.len() as u64), present));
            continue;
        }
        assert!(
            mine.len() >= acked.len() && mine.len() <= acked.len() + 1,
            "{ctx}: producer {producer}: {} acknowledged, {} present",
            acked.len(),
            mine.len()
        );
        for (b, offset) in acked.iter().enumerate() {
            assert_eq!(
                mine[b].offset,
                Offset(*offset),
                "{ctx}: producer {producer}"
            );
        }
        resume_from.insert(producer, (acked.len() as u64, mine.len() as u64));
    }
    // Resume every producer from its first unacknowledged batch.
    for (producer, (first_unacked, present)) in resume_from {
        let part = (producer % 2) as u32;
        for b in first_unacked..BATCHES {
            let records = [rec(b as i64, None, &value(producer, b))];
            let got = log
                .append(TOPIC, part, &records, Some(stamp(producer, 0, b)))
                .unwrap();
            match got {
                AppendOutcome::Duplicate { original: Some(_) } if b < present => {}
                AppendOutcome::Appended { .. } if b >= present => {}
                other => panic!("{ctx}: producer {producer} batch {b}: {other:?}"),
            }
        }
    }
    log.flush().unwrap(); // interval durability: make the last appends visible
    for p in 0..2u32 {
        let all = read_all(&log, TOPIC, p);
        assert_eq!(all.len() as u64, BATCHES * THREADS / 2, "{ctx}");
    }
}

#[test]
fn concurrent_appenders_and_a_crash_keep_acknowledged_batches_exactly_once() {
    let n: u64 = std::env::var("EXACTLY_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    let base = seeds(0x6c0).first().copied().unwrap();
    for seed in base..base + n {
        with_seed(seed, run);
    }
}
