//! Batching changes the cost, never the result: the same deliveries (duplicates and bad
//! messages included) processed one message per transaction and in random batch sizes
//! give the same state, the same inbox outcomes and the same outgoing messages in the
//! same order, over 200 seeds.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use exactly_core::{ManualClock, SimStorage};
use exactly_endpoint::testkit::{bank_workload, VecPublisher, Workload, DEAD_LETTERS_TOPIC};
use exactly_endpoint::{EmbeddedOptions, EmbeddedStore, Endpoint, EndpointConfig, Store};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;

type Outcome = (Vec<(Vec<u8>, Vec<u8>)>, Vec<(String, Vec<u8>)>, u64);

fn run(workload: &Workload, batch_max: usize, chunks: &[usize]) -> Outcome {
    let store = EmbeddedStore::open_with(
        Arc::new(SimStorage::new(0)),
        "/s",
        EmbeddedOptions::default(),
    )
    .unwrap();
    let config = EndpointConfig {
        dead_letter_topic: DEAD_LETTERS_TOPIC.into(),
        dispatch_batch_max: 3,
    };
    let mut ep = Endpoint::new(
        workload.debit_handler(batch_max),
        store,
        config,
        Arc::new(ManualClock::new(0)),
    );
    let mut out = VecPublisher::default();
    let mut at = 0;
    for &len in chunks {
        let end = (at + len).min(workload.deliveries.len());
        ep.process(&workload.deliveries[at..end]).unwrap();
        ep.dispatch(&mut out).unwrap();
        at = end;
    }
    let published = out
        .published
        .into_iter()
        .map(|e| (e.id.to_hex(), e.payload))
        .collect();
    (
        ep.store().state_entries().unwrap(),
        published,
        ep.store().inbox_stats().unwrap().ids,
    )
}

#[test]
fn batched_and_single_message_transactions_give_the_same_result() {
    for seed in common::seeds(200) {
        let mut rng = SmallRng::seed_from_u64(seed);
        let workload = bank_workload(seed, 40, 3, 0.5, 4);
        let n = workload.deliveries.len();
        let singles = run(&workload, 1, &[n]);
        let chunks: Vec<usize> = (0..n).map(|_| rng.random_range(1..=12)).collect();
        let batched = run(&workload, rng.random_range(2..=16), &chunks);
        assert_eq!(
            singles, batched,
            "seed {seed} (replay with EXACTLY_SEED={seed})"
        );
        assert!(!singles.1.is_empty());
    }
}
