//! The bank under real SIGKILLs with both endpoint stores in PostgreSQL
//! (`EXACTLY_PG_URL`, default the local `test` database): same audit as the embedded run,
//! half the kills (each restart reconnects and waits for the dead session's advisory
//! lock). Fails when PostgreSQL is unreachable, unless `EXACTLY_SKIP_POSTGRES=1` (then it
//! prints that it skipped).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::endpoint_bank_common;
use crate::kill_common;

#[test]
fn bank_on_postgres_under_kill9_then_every_transfer_exactly_once() {
    let url = std::env::var("EXACTLY_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    if let Err(error) = postgres::Client::connect(&url, postgres::NoTls) {
        if std::env::var("EXACTLY_SKIP_POSTGRES").as_deref() != Ok("1") {
            panic!("PostgreSQL at {url} is required (set EXACTLY_SKIP_POSTGRES=1 to skip) but unreachable: {error}");
        }
        println!("SKIPPED: PostgreSQL at {url} unreachable ({error})");
        return;
    }
    let (kills, seed) = kill_common::kills_and_seed();
    endpoint_bank_common::run_bank_and_assert(&url, 10_000, 8, (kills / 2).max(1), seed);
}
