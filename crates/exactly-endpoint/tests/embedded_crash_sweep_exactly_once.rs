//! Crash sweep of the embedded store on simulated storage: for each seed a bank workload
//! (duplicated deliveries, bad messages) runs through `accounts-a` while the simulated
//! machine stops after a random number of I/O mutations (up to three times, each with a
//! random tear of the unsynced bytes); the endpoint restarts from what is durable. After
//! the run every transfer must be debited once, credited once downstream (the receiving
//! inbox drops republished copies), in the debits' order, with money conserved and each
//! bad message dead-lettered once.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use exactly_core::{ManualClock, SimStorage, TearMode};
use exactly_endpoint::testkit::{
    bank_workload, check_bank, check_published_were_committed, committed_offset, VecPublisher,
    Workload, DEAD_LETTERS_TOPIC,
};
use exactly_endpoint::{EmbeddedOptions, EmbeddedStore, Endpoint, EndpointConfig, RetentionPolicy};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;

const TEARS: [TearMode; 4] = [
    TearMode::DropUnsynced,
    TearMode::KeepPrefix,
    TearMode::PrefixThenGarbage,
    TearMode::PrefixThenZeros,
];

fn options() -> EmbeddedOptions {
    // A tiny journal limit so that snapshots and journal switches happen inside the sweep.
    EmbeddedOptions {
        retention: RetentionPolicy::KeepAll,
        journal_bytes_max: 3000,
        ..EmbeddedOptions::default()
    }
}

/// Runs the workload to the end from whatever is durable; fails at the crash point.
fn attempt(
    storage: &SimStorage,
    workload: &Workload,
    downstream: &mut VecPublisher,
    rng: &mut SmallRng,
) -> Result<(), String> {
    let store = EmbeddedStore::open_with(Arc::new(storage.clone()), "/a", options())
        .map_err(|e| e.to_string())?;
    let batch_max = rng.random_range(1..=8);
    let config = EndpointConfig {
        dead_letter_topic: DEAD_LETTERS_TOPIC.into(),
        dispatch_batch_max: 5,
    };
    let mut ep = Endpoint::new(
        workload.debit_handler(batch_max),
        store,
        config,
        Arc::new(ManualClock::new(0)),
    );
    ep.dispatch(downstream).map_err(|e| e.to_string())?;
    loop {
        let from = committed_offset(ep.store()).map_err(|e| e.to_string())?;
        if from >= workload.deliveries.len() {
            return Ok(());
        }
        let to = (from + rng.random_range(1..=batch_max * 2)).min(workload.deliveries.len());
        ep.process(&workload.deliveries[from..to])
            .map_err(|e| e.to_string())?;
        ep.dispatch(downstream).map_err(|e| e.to_string())?;
    }
}

fn run_seed(seed: u64) -> Result<u32, String> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let workload = bank_workload(seed, 30, 4, 0.3, 3);
    let storage = SimStorage::new(seed);
    let budget = 2 * workload.deliveries.len() as u64 + 40;
    storage.crash_after_mutations(rng.random_range(1..=budget));
    let mut downstream = VecPublisher::default();
    let mut crashes = 0;
    while let Err(error) = attempt(&storage, &workload, &mut downstream, &mut rng) {
        if !storage.is_crashed() {
            return Err(format!("failed without a crash: {error}"));
        }
        storage.crash(TEARS[rng.random_range(0..TEARS.len())]);
        crashes += 1;
        let mut recovered = EmbeddedStore::open_with(Arc::new(storage.clone()), "/a", options())
            .map_err(|e| format!("recovery: {e}"))?;
        check_published_were_committed(&mut recovered, &downstream.published)?;
        drop(recovered);
        if crashes < 3 && rng.random_bool(0.5) {
            storage.crash_after_mutations(rng.random_range(1..=budget));
        }
    }
    storage.crash_after_mutations(u64::MAX);
    let mut store = EmbeddedStore::open_with(Arc::new(storage.clone()), "/a", options())
        .map_err(|e| e.to_string())?;
    let b_store = EmbeddedStore::open_with(Arc::new(SimStorage::new(seed)), "/b", options())
        .map_err(|e| e.to_string())?;
    let report = check_bank(&workload, &mut store, &downstream.published, b_store)?;
    assert_eq!(report.transfers, 30);
    Ok(crashes)
}

#[test]
fn embedded_crash_sweep_then_each_transfer_exactly_once() {
    let mut crashes = 0;
    let seeds = common::seeds(500);
    for &seed in &seeds {
        match run_seed(seed) {
            Ok(n) => crashes += n,
            Err(reason) => panic!("seed {seed}: {reason} (replay with EXACTLY_SEED={seed})"),
        }
    }
    println!("{} seeds, {crashes} crashes", seeds.len());
    assert!(
        crashes as usize >= seeds.len() / 2,
        "too few crashes landed: {crashes}"
    );
}
