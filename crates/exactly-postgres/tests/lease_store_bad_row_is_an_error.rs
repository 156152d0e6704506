//! A row changed outside the store so that it no longer decodes — an assignment naming a
//! non-number as worker, a task key that is not a task id — is reported as `BadData` by
//! the requests that read it and by the snapshot, never read as a default; the store
//! answers again once the row is repaired.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;
use crate::lease_common;

use exactly_cluster::{Request, Response, TaskId, WorkerId};
use exactly_postgres::LeaseStoreError;
use lease_common::{store, DropSchema};

#[test]
fn undecodable_rows_are_errors_not_defaults() {
    let Some(url) = common::pg_or_skip("lease_store_bad_row_is_an_error") else {
        return;
    };
    let schema = common::unique_schema("lease_bad");
    let _drop = DropSchema {
        url: url.clone(),
        schema: schema.clone(),
    };
    let mut store = store(&url, &schema, "job", &[TaskId(0)]);
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let heartbeat = Request::Heartbeat {
        worker: WorkerId(1),
        member_ttl_ms: 4_000,
    };
    let acquire = Request::Acquire {
        worker: WorkerId(1),
        task: TaskId(0),
        ttl_ms: 6_000,
    };
    for bad in [r#"{"0": "w1"}"#, r#"{"zero": 1}"#, r#"{"0": 1.5}"#] {
        admin
            .execute(
                &format!("UPDATE {schema}.cluster_jobs SET assignment = $1::text::jsonb"),
                &[&bad],
            )
            .unwrap();
        for request in [&heartbeat, &acquire] {
            match store.serve(request) {
                Err(error @ LeaseStoreError::BadData { .. }) => {
                    assert!(!error.is_transient());
                    println!("{bad}: {error}");
                }
                other => panic!("{bad}: expected bad data, got {other:?}"),
            }
        }
        assert!(matches!(
            store.snapshot(),
            Err(LeaseStoreError::BadData { .. })
        ));
    }
    admin
        .execute(
            &format!("UPDATE {schema}.cluster_jobs SET assignment = '{{\"0\": 1}}'"),
            &[],
        )
        .unwrap();
    assert!(matches!(
        store.serve(&acquire).unwrap(),
        Response::Acquire(Ok(_))
    ));
}
