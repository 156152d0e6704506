//! `Log::check_consistency` holds after every kind of mutation — appends, idempotent
//! retries, segment rolls, retention, transactions committed and aborted, a producer
//! checkpoint at close and a reopen — on a randomized workload (seed printed).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use common::*;
use exactly_core::{ManualClock, Offset, SimStorage};
use exactly_log::{Durability, LogConfig};
use rand::{Rng, SeedableRng};

fn config() -> LogConfig {
    LogConfig {
        durability: Durability::None,
        segment_bytes_max: 4096,
        batch_bytes_max: 4096,
        retention_bytes: Some(16 << 10),
        ..LogConfig::default()
    }
}

#[test]
fn every_mutation_leaves_the_log_consistent() {
    let seed: u64 = std::env::var("SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("seed {seed} (rerun with SEED={seed})");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let storage = SimStorage::new(seed);
    let clock = ManualClock::new(1_000_000);
    let log = open_sim(&storage, &clock, config()).unwrap();
    log.create_topic("t", 2).unwrap();
    log.check_consistency().unwrap();
    let mut producer = log.transactional_producer("tx", 60_000).unwrap();
    let mut sequence = 0u64;
    for step in 0..400 {
        let partition = rng.random_range(0..2);
        match rng.random_range(0..10) {
            0..=4 => {
                let n = rng.random_range(1..5);
                let batch: Vec<_> = (0..n)
                    .map(|i| {
                        rec(
                            step,
                            None,
                            format!("{step}-{i}-{}", "v".repeat(60)).as_bytes(),
                        )
                    })
                    .collect();
                log.append("t", partition, &batch, None).unwrap();
            }
            5 | 6 => {
                let batch = [rec(step, None, format!("idem-{step}").as_bytes())];
                let stamp = stamp(7, 0, sequence);
                log.append("t", 0, &batch, Some(stamp)).unwrap();
                // The retry is a duplicate and changes nothing.
                log.append("t", 0, &batch, Some(stamp)).unwrap();
                sequence += 1;
            }
            7 | 8 => {
                producer.begin().unwrap();
                producer
                    .send("t", partition, &[rec(step, None, b"txn")])
                    .unwrap();
                log.check_consistency().unwrap();
                match rng.random_bool(0.5) {
                    true => producer.commit().unwrap(),
                    false => producer.abort().unwrap(),
                }
            }
            _ => {
                clock.advance_ms(1_000);
                log.enforce_retention();
            }
        }
        log.check_consistency()
            .unwrap_or_else(|e| panic!("step {step} (seed {seed}): {e}"));
    }
    let info = log.partition_info("t", 0).unwrap();
    assert!(info.segments > 2, "the workload rolled segments: {info:?}");
    assert!(info.start_offset > Offset(0), "retention ran: {info:?}");

    let end = log.partition_info("t", 1).unwrap().end_offset;
    drop(producer);
    log.close().unwrap();
    let reopened = open_sim(&storage, &clock, config()).unwrap();
    reopened.check_consistency().unwrap();
    assert_eq!(reopened.partition_info("t", 1).unwrap().end_offset, end);
}
