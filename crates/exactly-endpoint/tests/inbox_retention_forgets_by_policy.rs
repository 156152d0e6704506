//! Inbox retention is an explicit policy: by count the oldest ids go first, by age the ids
//! older than the window go, and a duplicate of a forgotten id is processed again (the
//! documented cost of forgetting). Also reports bytes per retained id.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use exactly_core::{ManualClock, SimStorage};
use exactly_endpoint::testkit::{bank_workload, DEAD_LETTERS_TOPIC};
use exactly_endpoint::{
    EmbeddedOptions, EmbeddedStore, Endpoint, EndpointConfig, RetentionPolicy, Store,
};
use std::sync::Arc;

fn store(retention: RetentionPolicy) -> EmbeddedStore {
    let options = EmbeddedOptions {
        retention,
        journal_bytes_max: 1 << 20,
        ..EmbeddedOptions::default()
    };
    EmbeddedStore::open_with(Arc::new(SimStorage::new(1)), "/s", options).unwrap()
}

#[test]
fn retention_by_count_and_age_then_forgotten_ids_are_reprocessed() {
    let workload = bank_workload(3, 200, 5, 0.0, 0);
    let config = EndpointConfig {
        dead_letter_topic: DEAD_LETTERS_TOPIC.into(),
        dispatch_batch_max: 64,
    };

    let clock = Arc::new(ManualClock::new(0));
    let handler = workload.debit_handler(10);
    let mut by_count = Endpoint::new(
        handler.clone(),
        store(RetentionPolicy::Count { ids_max: 50 }),
        config.clone(),
        clock.clone(),
    );
    by_count.process(&workload.deliveries).unwrap();
    let stats = by_count.store().inbox_stats().unwrap();
    assert_eq!(stats.ids, 50);
    assert!(
        stats.disk_bytes >= 50 * 18 && stats.memory_bytes > 0,
        "{stats:?}"
    );
    let first = workload.deliveries[0].message.id;
    let last = workload.deliveries[199].message.id;
    let known = by_count.store().inbox_lookup(&[first, last]).unwrap();
    assert!(!known.contains_key(&first) && known.contains_key(&last));
    // The forgotten first transfer, delivered again, is applied again: the policy's cost.
    let again = by_count.process(&workload.deliveries[..1]).unwrap();
    assert_eq!(again.processed, 1);
    let again = by_count.process(&workload.deliveries[199..]).unwrap();
    assert_eq!(again.duplicates, 1);

    let mut by_age = Endpoint::new(
        handler,
        store(RetentionPolicy::Age { age_ms: 1000 }),
        config,
        clock.clone(),
    );
    by_age.process(&workload.deliveries[..100]).unwrap();
    clock.advance_ms(5000);
    by_age.process(&workload.deliveries[100..]).unwrap();
    let stats = by_age.store().inbox_stats().unwrap();
    assert_eq!(stats.ids, 100, "only the ids of the last 1000 ms remain");
    println!(
        "per retained id: {} B memory, {} B disk",
        stats.memory_bytes / stats.ids,
        stats.disk_bytes / stats.ids
    );
}
