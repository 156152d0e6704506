//! Shared by the checkpoint store's tests: the server (required — a test that cannot reach
//! it fails), unique schema and job names so parallel runs never meet, killing a backend
//! from a second connection, seeds.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use exactly_core::Timestamp;
use exactly_postgres::{PgCheckpointConfig, PostgresCheckpointStore};
use exactly_state::Checkpoint;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// `EXACTLY_PG_URL`, or the local test database; the test fails if it does not answer.
pub fn pg_url(test: &str) -> String {
    let url = std::env::var("EXACTLY_PG_URL")
        .unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".to_string());
    if let Err(error) = postgres::Client::connect(&url, postgres::NoTls) {
        panic!("{test}: PostgreSQL at {url:?} is required but unreachable: {error}");
    }
    url
}

/// A schema name no other test or run uses.
pub fn unique_schema(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "t_ck_{prefix}_{}_{nanos}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Drops the schema at the end of a test.
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
    killer
        .execute("SELECT pg_terminate_backend($1)", &[&pid])
        .unwrap();
}

/// The seed (`EXACTLY_SEED` replays one), printed.
pub fn seed() -> u64 {
    let seed = std::env::var("EXACTLY_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("seed {seed} (EXACTLY_SEED={seed} replays it)");
    seed
}

/// A checkpoint with a state of `state_bytes` bytes derived from `id`.
pub fn checkpoint(id: u64, state_bytes: usize) -> Checkpoint {
    let state: Vec<u8> = (0..state_bytes)
        .map(|i| (i as u64).wrapping_mul(31).wrapping_add(id) as u8)
        .collect();
    Checkpoint {
        id,
        clock: Timestamp(1_000 + id as i64),
        positions: BTreeMap::from([("in/0".to_string(), id * 10)]),
        states: BTreeMap::from([
            ("big".to_string(), state),
            ("small".to_string(), id.to_le_bytes().to_vec()),
        ]),
        metadata: BTreeMap::from([("job".to_string(), "t".to_string())]),
    }
}

/// A config whose states over 1 KiB are blobs of 4 KiB chunks.
pub fn config(url: &str, schema: &str, job: &str) -> PgCheckpointConfig {
    let mut config = PgCheckpointConfig::new(url, schema, job);
    config.inline_bytes_max = 1024;
    config.chunk_bytes = 4096;
    config
}

/// A reader of the store that does not claim an epoch.
pub fn reader(url: &str, schema: &str, job: &str) -> PostgresCheckpointStore {
    PostgresCheckpointStore::open_reader(&config(url, schema, job)).unwrap()
}
