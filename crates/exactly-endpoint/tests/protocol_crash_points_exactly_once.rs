//! The inbox/outbox protocol stopped at each of its three crash points — before the
//! commit, after the commit before the publish, after the publish before the mark — on the
//! embedded store, over 500 seeds: each restart reopens the store from durable state
//! (simulated storage crashed with torn unsynced bytes). Every transfer must be applied
//! exactly once on both sides and every published message must come from a durable commit.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use exactly_core::{SimStorage, TearMode};
use exactly_endpoint::testkit::{
    bank_workload, check_bank, check_published_were_committed, run_with_crash_points, CrashPoint,
};
use exactly_endpoint::{EmbeddedOptions, EmbeddedStore, StoreError};
use std::collections::HashSet;
use std::sync::Arc;

fn open(storage: &SimStorage) -> Result<EmbeddedStore, StoreError> {
    EmbeddedStore::open_with(Arc::new(storage.clone()), "/a", EmbeddedOptions::default())
}

#[test]
fn crash_at_each_protocol_point_then_each_transfer_exactly_once() {
    let mut points = HashSet::new();
    let mut total = 0;
    for seed in common::seeds(500) {
        let workload = bank_workload(seed, 25, 3, 0.4, 3);
        let storage = SimStorage::new(seed);
        let mut opens = 0;
        let mut open_after_crash = || {
            // Each reopen after the first is a restart: the machine lost what was unsynced.
            if opens > 0 {
                storage.crash(TearMode::KeepPrefix);
            }
            opens += 1;
            open(&storage)
        };
        let (downstream, crashes) =
            run_with_crash_points(&workload, seed, 6, &mut open_after_crash)
                .unwrap_or_else(|e| panic!("seed {seed}: {e} (replay with EXACTLY_SEED={seed})"));
        let mut store = open(&storage).unwrap();
        check_published_were_committed(&mut store, &downstream.published)
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let b = EmbeddedStore::open_with(
            Arc::new(SimStorage::new(0)),
            "/b",
            EmbeddedOptions::default(),
        )
        .unwrap();
        check_bank(&workload, &mut store, &downstream.published, b)
            .unwrap_or_else(|e| panic!("seed {seed}: {e} (replay with EXACTLY_SEED={seed})"));
        total += crashes.len();
        points.extend(crashes);
    }
    println!("{total} crashes at {points:?}");
    if std::env::var("EXACTLY_SEED").is_err() {
        assert_eq!(
            points.len(),
            3,
            "not every crash point was reached: {points:?}"
        );
        assert!(points.contains(&CrashPoint::AfterPublishBeforeMark));
    }
}
