//! `exactly_postgres::orphans`: the marked schemas of a run are kept while its run lock is
//! held (another run cannot take it), and dropped by the next clean-up once the run's
//! connection is gone — as after a SIGKILL.
#![allow(clippy::expect_used, clippy::panic)] // Tests fail by panicking.

use crate::common;

use exactly_postgres::orphans::{drop_orphans, lock_run, OrphanError};

fn schema_exists(url: &str, schema: &str) -> bool {
    let mut client = postgres::Client::connect(url, postgres::NoTls).expect("connect");
    let row = client
        .query_one(
            "SELECT count(*) FROM pg_namespace WHERE nspname = $1",
            &[&schema],
        )
        .expect("query");
    row.get::<_, i64>(0) == 1
}

#[test]
fn schemas_of_a_live_run_are_kept_and_those_of_a_dead_run_dropped() {
    let Some(url) = common::pg_or_skip("orphans_dropped_only_when_their_run_is_gone") else {
        return;
    };
    // Its own start, so that the clean-up only looks at this test's schemas.
    let start = format!(
        "orphantest_{}_{}_",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .expect("clock")
    );
    let prefix = format!("{start}run");
    let mut run = lock_run(&url, &prefix).expect("run lock");
    run.create_schemas(&prefix).expect("schemas");
    assert!(matches!(
        lock_run(&url, &prefix),
        Err(OrphanError::Busy { prefix: p }) if p == prefix
    ));

    assert_eq!(
        drop_orphans(&url, &start).expect("clean-up"),
        Vec::<String>::new()
    );
    assert!(schema_exists(&url, &format!("{prefix}_a")));

    drop(run); // the run's connection is gone, like a killed process's
    assert_eq!(
        drop_orphans(&url, &start).expect("clean-up"),
        vec![prefix.clone()]
    );
    assert!(!schema_exists(&url, &format!("{prefix}_a")));
    assert!(!schema_exists(&url, &format!("{prefix}_b")));
}
