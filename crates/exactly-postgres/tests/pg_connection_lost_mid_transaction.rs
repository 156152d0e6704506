//! Connection loss in the middle of a batch transaction, as `pg_ctl stop -m immediate`
//! does to a client: a second connection terminates the store's backend
//! (`pg_terminate_backend`) after the batch's writes and right before `COMMIT`. The batch
//! must fail with a connection error, leave nothing behind (no inbox id, no state, no
//! outbox row, position unchanged), and after reconnecting the run completes with every
//! transfer exactly once. We terminate one backend instead of stopping the shared server
//! so that tests running in parallel are not disturbed; the client sees the same thing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use exactly_core::{ManualClock, SimStorage};
use exactly_endpoint::testkit::{
    bank_workload, check_bank, committed_offset, VecPublisher, DEAD_LETTERS_TOPIC,
};
use exactly_endpoint::{
    EmbeddedOptions, EmbeddedStore, Endpoint, EndpointConfig, EndpointError, Store, StoreError,
};
use exactly_postgres::{drop_schema, PgOptions, PgStore};
use std::sync::Arc;

#[test]
fn connection_lost_before_commit_then_nothing_partial_and_exactly_once() {
    let Some(url) = common::pg_or_skip("pg_connection_lost_mid_transaction") else {
        return;
    };
    let schema = common::unique_schema("cut");
    let workload = bank_workload(11, 60, 4, 0.3, 3);
    let config = EndpointConfig {
        dead_letter_topic: DEAD_LETTERS_TOPIC.into(),
        dispatch_batch_max: 16,
    };
    let mut downstream = VecPublisher::default();
    let mut cuts = 0;
    for round in 0.. {
        let mut store = PgStore::connect(&url, &schema, PgOptions::default()).unwrap();
        let from = committed_offset(&mut store).unwrap();
        if from >= workload.deliveries.len() {
            break;
        }
        let cut = round % 2 == 0;
        if cut {
            let pid = store.backend_pid().unwrap();
            let killer_url = url.clone();
            store.set_before_commit(Some(Box::new(move || {
                let mut killer = postgres::Client::connect(&killer_url, postgres::NoTls).unwrap();
                killer
                    .execute("SELECT pg_terminate_backend($1)", &[&pid])
                    .unwrap();
            })));
        }
        let mut ep = Endpoint::new(
            workload.debit_handler(8),
            store,
            config.clone(),
            Arc::new(ManualClock::new(0)),
        );
        ep.dispatch(&mut downstream).unwrap();
        let chunk = &workload.deliveries[from..(from + 10).min(workload.deliveries.len())];
        let result = ep.process(chunk);
        if cut {
            assert!(
                matches!(
                    result,
                    Err(EndpointError::Store(StoreError::Connection { .. }))
                ),
                "{result:?}"
            );
            cuts += 1;
            let mut fresh = PgStore::connect(&url, &schema, PgOptions::default()).unwrap();
            assert_eq!(
                committed_offset(&mut fresh).unwrap(),
                from,
                "a cut transaction moved the position"
            );
            let ids: Vec<_> = chunk.iter().map(|d| d.message.id).collect();
            let known = fresh.inbox_lookup(&ids).unwrap();
            assert!(
                known.keys().all(|id| workload.deliveries[..from]
                    .iter()
                    .any(|d| d.message.id == *id)),
                "a cut transaction recorded an inbox id"
            );
            assert!(
                fresh.pending_outbox(1000).unwrap().is_empty(),
                "a cut transaction left outbox rows"
            );
        } else {
            result.unwrap();
            ep.dispatch(&mut downstream).unwrap();
        }
    }
    let mut store = PgStore::connect(&url, &schema, PgOptions::default()).unwrap();
    let b = EmbeddedStore::open_with(
        Arc::new(SimStorage::new(0)),
        "/b",
        EmbeddedOptions::default(),
    )
    .unwrap();
    let report = check_bank(&workload, &mut store, &downstream.published, b).unwrap();
    assert_eq!(report.transfers, 60);
    assert!(cuts >= 5, "only {cuts} cuts");
    drop(store);
    drop_schema(&url, &schema).unwrap();
}
