//! The bank across NATS JetStream (`--transport nats://…`, a nats-server 2.15 of our own
//! with `sync_interval: always`) with both stores in PostgreSQL, under ≥ 20 SIGKILLs of
//! the endpoint processes (`EXACTLY_KILLS / 2`, at least 20). The audit reads both stores
//! and the topics on JetStream and compares them with the workload's model: every
//! transfer debited and credited exactly once (R = UR = 1), money conserved, bad messages
//! dead-lettered once — and the credits stream holds no copy (the outbox's tail protocol,
//! not the duplicate window nor only the inbox).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::endpoint_bank_common;
use crate::kill_common;
use crate::nats_run_common;
use crate::pg_common;

#[test]
fn bank_over_nats_under_kill9_then_every_transfer_exactly_once() {
    let temp = tempfile::tempdir().unwrap();
    let Some(server) = nats_run_common::server(temp.path()) else {
        return;
    };
    let url = pg_common::pg_url();
    let (kills, seed) = kill_common::kills_and_seed();
    let kills = (kills / 2).max(20);
    let report =
        endpoint_bank_common::run_bank_on_and_assert(&url, &server.url(), 10_000, 8, kills, seed);
    let context = format!("seed {seed} (replay with EXACTLY_SEED={seed}): {report}");
    assert_eq!(report["transport"], "nats", "{context}");
    assert_eq!(report["store"], "postgres", "{context}");
    assert_eq!(report["copies_dropped_b"], 0, "{context}");
    assert_eq!(report["child_failures"], serde_json::json!([]), "{context}");
}
