//! A torn journal tail past the acknowledged end is truncated (it was never acknowledged),
//! but a cut inside an acknowledged commit, or a damaged frame followed by valid frames, is
//! damage of acknowledged commits: recovery refuses and reports the file and byte
//! position.
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

    let full = {
        let mut store =
            EmbeddedStore::open_with(Arc::new(storage.clone()), "/s", EmbeddedOptions::default())
                .unwrap();
        store.positions().unwrap()[0].next_offset
    };

    // Torn tail: half a frame past the acknowledged end (a commit whose sync never
    // returned) is cut, and every acknowledged commit stays.
    let mut torn = clean.clone();
    torn.extend_from_slice(&clean[..clean.len().min(40) / 2]);
    storage.overwrite_bytes(journal, torn).unwrap();
    let mut store =
        EmbeddedStore::open_with(Arc::new(storage.clone()), "/s", EmbeddedOptions::default())
            .unwrap();
    assert_eq!(store.positions().unwrap()[0].next_offset, full);
    drop(store);
    assert_eq!(storage.live_bytes(journal).unwrap(), clean);

    // A cut inside the last acknowledged frame is not a torn write: refused, naming the
    // journal, instead of forgetting the commit.
    storage
        .overwrite_bytes(journal, clean[..clean.len() - 3].to_vec())
        .unwrap();
    let error =
        EmbeddedStore::open_with(Arc::new(storage.clone()), "/s", EmbeddedOptions::default())
            .unwrap_err();
    assert!(
        matches!(&error, StoreError::Corrupt { path, .. } if path == journal),
        "{error}"
    );

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
