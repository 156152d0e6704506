//! Files of an embedded store removed by an operator: a missing snapshot (after the store
//! compacted into it) or a missing current journal would make the store open empty, or
//! older, and process every message again. The durable-end evidence makes both a refusal
//! that names the file.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use exactly_core::{ManualClock, SimStorage, Storage};
use exactly_endpoint::testkit::{bank_workload, DEAD_LETTERS_TOPIC};
use exactly_endpoint::{EmbeddedOptions, EmbeddedStore, Endpoint, EndpointConfig, StoreError};
use std::path::Path;
use std::sync::Arc;

fn options() -> EmbeddedOptions {
    EmbeddedOptions {
        journal_bytes_max: 4 << 10,
        ..EmbeddedOptions::default()
    }
}

/// A store that compacted at least once and has commits in its current journal.
fn processed_store() -> SimStorage {
    let storage = SimStorage::new(3);
    let workload = bank_workload(3, 200, 10, 0.0, 0);
    let store = EmbeddedStore::open_with(Arc::new(storage.clone()), "/s", options()).unwrap();
    let config = EndpointConfig {
        dead_letter_topic: DEAD_LETTERS_TOPIC.into(),
        dispatch_batch_max: 8,
    };
    let mut ep = Endpoint::new(
        workload.debit_handler(4),
        store,
        config,
        Arc::new(ManualClock::new(0)),
    );
    for chunk in workload.deliveries.chunks(4) {
        ep.process(chunk).unwrap();
    }
    storage
}

fn refused_naming(storage: &SimStorage, name: &str) {
    let error = EmbeddedStore::open_with(Arc::new(storage.clone()), "/s", options()).unwrap_err();
    assert!(
        matches!(&error, StoreError::Corrupt { path, .. } if path.ends_with(name)),
        "expected a refusal naming {name}, got: {error}"
    );
}

fn current_journal(storage: &SimStorage) -> String {
    let names = storage.list_dir(Path::new("/s")).unwrap();
    names
        .into_iter()
        .find(|n| n.starts_with("journal-"))
        .unwrap()
}

#[test]
fn a_removed_snapshot_is_refused() {
    let storage = processed_store();
    assert_ne!(current_journal(&storage), "journal-00000000000000000000");
    storage.remove_file(Path::new("/s/snapshot")).unwrap();
    refused_naming(&storage, "snapshot");
}

#[test]
fn a_removed_journal_is_refused() {
    let storage = processed_store();
    let journal = current_journal(&storage);
    assert!(!storage
        .live_bytes(&Path::new("/s").join(&journal))
        .unwrap()
        .is_empty());
    storage
        .remove_file(&Path::new("/s").join(&journal))
        .unwrap();
    refused_naming(&storage, &journal);
}
