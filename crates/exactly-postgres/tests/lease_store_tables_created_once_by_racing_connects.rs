//! Four processes connecting at once to a new schema all succeed (the tables are created
//! under an advisory lock, the job's rows with `ON CONFLICT DO NOTHING`), and a job stored
//! with another task list is refused: a job's task list is fixed while it runs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;
use crate::lease_common;

use exactly_cluster::TaskId;
use exactly_postgres::{LeaseStoreError, PgLeaseStore};
use lease_common::{config, store, DropSchema};

const TASKS: [TaskId; 2] = [TaskId(0), TaskId(1)];

#[test]
fn racing_connects_create_the_tables_once() {
    let Some(url) = common::pg_or_skip("lease_store_tables_created_once_by_racing_connects") else {
        return;
    };
    let schema = common::unique_schema("lease_create");
    let _drop = DropSchema {
        url: url.clone(),
        schema: schema.clone(),
    };
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| store(&url, &schema, "job", &TASKS)))
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
    });
    match PgLeaseStore::connect(&config(&url, &schema, "job", &[TaskId(0)])) {
        Err(LeaseStoreError::TaskListMismatch { stored, given, .. }) => {
            assert_eq!((stored, given), (vec![0, 1], vec![0]));
        }
        other => panic!("another task list must be refused, got {other:?}"),
    }
}
