//! Shared by the lease store's tests: a store config with a short reconnect policy, the
//! schema dropped at the end, killing a backend from a second connection, seeds.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use exactly_cluster::TaskId;
use exactly_endpoint::serve::ReconnectPolicy;
use exactly_postgres::{PgLeaseConfig, PgLeaseStore};

/// A config for `job` in `schema`, reconnecting quickly (tests cut connections on purpose).
pub fn config(url: &str, schema: &str, job: &str, tasks: &[TaskId]) -> PgLeaseConfig {
    let mut config = PgLeaseConfig::new(url, schema, job, tasks);
    config.reconnect = ReconnectPolicy {
        attempts_max: 5,
        backoff_initial_ms: 10,
        backoff_max_ms: 100,
    };
    config
}

/// Connects a store, failing the test on error.
pub fn store(url: &str, schema: &str, job: &str, tasks: &[TaskId]) -> PgLeaseStore {
    PgLeaseStore::connect(&config(url, schema, job, tasks)).unwrap()
}

/// Drops the schema at the end of a test, passed or not.
pub struct DropSchema {
    pub url: String,
    pub schema: String,
}

impl Drop for DropSchema {
    fn drop(&mut self) {
        let _ = exactly_postgres::drop_schema(&self.url, &self.schema);
    }
}

/// Terminates backend `pid` from a connection of its own (what a server crash or a cut
/// network does to the client of that backend).
pub fn terminate(url: &str, pid: i32) {
    let mut killer = postgres::Client::connect(url, postgres::NoTls).unwrap();
    let killed: bool = killer
        .query_one("SELECT pg_terminate_backend($1)", &[&pid])
        .unwrap()
        .get(0);
    assert!(killed, "backend {pid} was not terminated");
}

/// The seeds to run: `EXACTLY_SEED` replays one; otherwise `0..EXACTLY_SEEDS` (default
/// `count`). A knob that does not parse stops the test.
pub fn seeds(count: u64) -> Vec<u64> {
    let parse = |name: &str| {
        std::env::var(name).ok().map(|value| {
            value
                .parse::<u64>()
                .unwrap_or_else(|_| panic!("{name}={value:?} is not a number"))
        })
    };
    if let Some(seed) = parse("EXACTLY_SEED") {
        return vec![seed];
    }
    let count = parse("EXACTLY_SEEDS").unwrap_or(count);
    println!("seeds 0..{count} (EXACTLY_SEEDS=<n> runs more, EXACTLY_SEED=<n> replays one)");
    (0..count).collect()
}
