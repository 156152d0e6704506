//! A torn journal tail is truncated (it was never acknowledged), but a damaged frame
//! followed by valid frames is corruption of acknowledged commits: recovery refuses to
//! skip it and reports the file and byte position.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use exactly_core::{ManualClock, SimStorage};
use exactly_endpoint::testkit::{bank_workload, DEAD_LETTERS_TOPIC};
use exactly_endpoint::{
    EmbeddedOptions, EmbeddedStore, Endpoint, EndpointConfig, Store, StoreError,
};
use std::path::Path;
use std::sync::Arc;

#[test]
fn mid_journal_corruption_is_refused_and_torn_tail_truncated() {
    let storage = SimStorage::new(9);
    let workload = bank_workload(9, 20, 3, 0.0, 0);
    let store =
        EmbeddedStore::open_with(Arc::new(storage.clone()), "/s", EmbeddedOptions::default())
            .unwrap();
    let config = EndpointConfig {
        dead_letter_topic: DEAD_LETTERS_TOPIC.into(),
        dispatch_batch_max: 8,
    };
    let mut ep = Endpoint::new(
        workload.debit_handler(5),
        store,
        config,
        Arc::new(ManualClock::new(0)),
    );
    ep.process(&workload.deliveries).unwrap();
    drop(ep);
    let journal = Path::new("/s/journal-00000000000000000000");
    let clean = storage.live_bytes(journal).unwrap();

    // Torn tail: cut inside the last frame; recovery keeps the first three batches.
    storage
        .overwrite_bytes(journal, clean[..clean.len() - 3].to_vec())
        .unwrap();
    let mut store =
        EmbeddedStore::open_with(Arc::new(storage.clone()), "/s", EmbeddedOptions::default())
            .unwrap();
    assert_eq!(store.positions().unwrap()[0].next_offset, 15);
    drop(store);

    // A flipped byte in the first frame, with valid frames after it: refused.
    let mut flipped = clean.clone();
    flipped[20] ^= 0x40;
    storage.overwrite_bytes(journal, flipped).unwrap();
    let error =
        EmbeddedStore::open_with(Arc::new(storage), "/s", EmbeddedOptions::default()).unwrap_err();
    assert!(
        matches!(error, StoreError::Corrupt { position: 0, .. }),
        "{error}"
    );
}
