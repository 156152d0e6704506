//! Regression: a statement PostgreSQL refused surfaced as "db error" (the driver's own
//! text) without the server's message, and a stored row of an unexpected type made
//! `PgStore` panic in `Row::get`. Now a refused statement is `StoreError::Database` with
//! severity, SQLSTATE, message and detail, and a bad row is `StoreError::BadRow` naming
//! table and column.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use exactly_endpoint::{MessageId, Store, StoreError};
use exactly_postgres::{drop_schema, PgOptions, PgStore};

#[test]
fn refused_statement_then_typed_error_with_server_message_and_bad_row_is_named() {
    let Some(url) = common::pg_or_skip("regression_pg_errors_carry_server_diagnosis") else {
        return;
    };
    let schema = common::unique_schema("diag");
    let mut store = PgStore::connect(&url, &schema, PgOptions::default()).unwrap();
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    // Every state write now violates a named constraint.
    admin
        .batch_execute(&format!(
            "ALTER TABLE {schema}.state ADD CONSTRAINT never_ok CHECK (length(value) < 0)"
        ))
        .unwrap();
    let id = MessageId::from_name("m1");
    let mut plan = |_| {
        Some(exactly_endpoint::Commit {
            inbox: vec![(id, exactly_endpoint::Outcome::Processed)],
            state: vec![(b"k".to_vec(), Some(b"v".to_vec()))],
            outbox: Vec::new(),
            positions: Vec::new(),
            now_ms: 0,
        })
    };
    let error = store
        .transact(&[id], &[b"k".to_vec()], &mut plan)
        .unwrap_err();
    match &error {
        StoreError::Database {
            severity,
            code,
            message,
            detail,
            ..
        } => {
            assert_eq!(severity, "ERROR");
            assert_eq!(code, "23514", "check_violation");
            assert!(message.contains("never_ok"), "{message}");
            assert!(
                detail.as_deref().unwrap_or("").contains("Failing row"),
                "{detail:?}"
            );
        }
        other => panic!("want StoreError::Database, got {other:?}"),
    }
    let text = error.to_string();
    assert!(
        text.contains("never_ok") && text.contains("23514"),
        "{text}"
    );
    assert!(!text.contains("db error"), "{text}");

    // A column of an unexpected type: a typed error naming it, not a panic.
    drop(store);
    let mut store = PgStore::connect(&url, &schema, PgOptions::default()).unwrap();
    admin
        .batch_execute(&format!(
            "ALTER TABLE {schema}.positions ALTER COLUMN next_offset TYPE text;
             INSERT INTO {schema}.positions VALUES ('t', 0, '5')"
        ))
        .unwrap();
    match store.positions() {
        Err(StoreError::BadRow { table, column, .. }) => {
            assert_eq!(
                (table.as_str(), column.as_str()),
                ("positions", "next_offset")
            );
        }
        other => panic!("want StoreError::BadRow, got {other:?}"),
    }
    drop(store);
    drop_schema(&url, &schema).unwrap();
}
