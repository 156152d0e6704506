//! Bounded outbox: when the dispatcher cannot keep up (a transport that is down), the
//! embedded store refuses a batch that would hold more undispatched entries than
//! `outbox_entries_max` — nothing of that batch is written and the store stays usable —
//! and accepts it again once the outbox has been dispatched.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use exactly_core::{ManualClock, SimStorage};
use exactly_endpoint::testkit::{bank_workload, committed_offset, VecPublisher};
use exactly_endpoint::{
    EmbeddedOptions, EmbeddedStore, Endpoint, EndpointConfig, EndpointError, StoreError,
};
use std::sync::Arc;

#[test]
fn outbox_full_refuses_batch_then_accepts_after_dispatch() {
    let workload = bank_workload(5, 20, 3, 0.0, 0);
    let options = EmbeddedOptions {
        outbox_entries_max: 10,
        ..EmbeddedOptions::default()
    };
    let store = EmbeddedStore::open_with(Arc::new(SimStorage::new(5)), "/s", options).unwrap();
    let handler = workload.debit_handler(5);
    let mut ep = Endpoint::new(
        handler,
        store,
        EndpointConfig::default(),
        Arc::new(ManualClock::new(0)),
    );

    ep.process(&workload.deliveries[..10]).unwrap();
    let refused = ep.process(&workload.deliveries[10..15]);
    assert!(
        matches!(
            refused,
            Err(EndpointError::Store(StoreError::OutboxFull {
                entries: 15,
                max: 10
            }))
        ),
        "{refused:?}"
    );
    assert_eq!(
        committed_offset(ep.store()).unwrap(),
        10,
        "the refused batch wrote nothing"
    );

    let mut downstream = VecPublisher::default();
    assert_eq!(ep.dispatch(&mut downstream).unwrap(), 10);
    ep.process(&workload.deliveries[10..]).unwrap();
    assert_eq!(ep.dispatch(&mut downstream).unwrap(), 10);
    assert_eq!(committed_offset(ep.store()).unwrap(), 20);
}
