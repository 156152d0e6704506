//! Single writer per endpoint on PostgreSQL: while one connection holds the schema's
//! advisory lock a second store (a zombie) is refused; once the first connection is gone
//! the lock goes with it and a new writer gets in.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use exactly_endpoint::StoreError;
use exactly_postgres::{drop_schema, ConnectError, PgOptions, PgStore};

#[test]
fn second_writer_is_refused_then_allowed_after_close() {
    let Some(url) = common::pg_or_skip("pg_store_refuses_second_writer") else {
        return;
    };
    let schema = common::unique_schema("lock");
    let options = PgOptions {
        lock_wait_ms: 200,
        ..PgOptions::default()
    };
    let first = PgStore::connect(&url, &schema, options).unwrap();
    let second = PgStore::connect(&url, &schema, options);
    assert!(
        matches!(second, Err(ConnectError::Store(StoreError::Locked { .. }))),
        "{second:?}"
    );
    drop(first);
    let third = PgStore::connect(&url, &schema, PgOptions::default()).unwrap();
    drop(third);
    drop_schema(&url, &schema).unwrap();
}
