//! The inbox/outbox protocol on PostgreSQL stopped at each of its three crash points —
//! before the commit (the transaction rolls back), after the commit before the publish,
//! after the publish before the mark — each restart on a new connection. Every transfer
//! must be applied exactly once on both sides, every published message must come from a
//! committed transaction, money conserved.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use exactly_endpoint::testkit::{
    bank_workload, check_bank, check_published_were_committed, run_with_crash_points,
};
use exactly_endpoint::{EmbeddedOptions, EmbeddedStore};
use exactly_postgres::{drop_schema, PgOptions, PgStore};
use std::collections::HashSet;
use std::sync::Arc;

#[test]
fn pg_crash_at_each_protocol_point_then_each_transfer_exactly_once() {
    let Some(url) = common::pg_or_skip("pg_crash_points_exactly_once") else {
        return;
    };
    let mut points = HashSet::new();
    for seed in common::seeds(40) {
        let schema = common::unique_schema("crash");
        let workload = bank_workload(seed, 25, 3, 0.4, 3);
        let mut open = || {
            PgStore::connect(&url, &schema, PgOptions::default()).map_err(|e| {
                exactly_endpoint::StoreError::Connection {
                    reason: e.to_string(),
                }
            })
        };
        let (downstream, crashes) = run_with_crash_points(&workload, seed, 6, &mut open)
            .unwrap_or_else(|e| panic!("seed {seed}: {e} (replay with EXACTLY_SEED={seed})"));
        let mut store = open().unwrap();
        check_published_were_committed(&mut store, &downstream.published)
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let b = EmbeddedStore::open_with(
            Arc::new(exactly_core::SimStorage::new(0)),
            "/b",
            EmbeddedOptions::default(),
        )
        .unwrap();
        check_bank(&workload, &mut store, &downstream.published, b)
            .unwrap_or_else(|e| panic!("seed {seed}: {e} (replay with EXACTLY_SEED={seed})"));
        points.extend(crashes);
        drop(store);
        drop_schema(&url, &schema).unwrap();
    }
    println!("crash points reached: {points:?}");
    if std::env::var("EXACTLY_SEED").is_err() {
        assert_eq!(
            points.len(),
            3,
            "not every crash point was reached: {points:?}"
        );
    }
}
