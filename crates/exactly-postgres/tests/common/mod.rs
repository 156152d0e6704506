//! Shared by the PostgreSQL tests: the URL, skipping when the server is absent, unique
//! schemas so that tests run in parallel.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicU64, Ordering};

/// `EXACTLY_PG_URL`, or the local test database.
pub fn pg_url() -> String {
    std::env::var("EXACTLY_PG_URL")
        .unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".to_string())
}

/// The URL if PostgreSQL answers. Otherwise the test fails — a test that cannot reach its
/// server must not pass — unless `EXACTLY_SKIP_POSTGRES=1`: then it prints why it is
/// skipped and returns `None`.
pub fn pg_or_skip(test: &str) -> Option<String> {
    let url = pg_url();
    match postgres::Client::connect(&url, postgres::NoTls) {
        Ok(_) => Some(url),
        Err(error) if std::env::var("EXACTLY_SKIP_POSTGRES").as_deref() != Ok("1") => {
            panic!("{test}: PostgreSQL at {url:?} is required (set EXACTLY_SKIP_POSTGRES=1 to skip) but unreachable: {error}")
        }
        Err(error) => {
            println!(
                "SKIPPED {test}: PostgreSQL at {url:?} unreachable ({error}); set EXACTLY_PG_URL"
            );
            None
        }
    }
}

/// A schema name no other test or run uses.
pub fn unique_schema(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "t_{prefix}_{}_{nanos}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Seeds: `EXACTLY_SEED` replays one; otherwise `EXACTLY_PG_SEEDS` (default `count`).
pub fn seeds(count: u64) -> Vec<u64> {
    if let Some(seed) = std::env::var("EXACTLY_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return vec![seed];
    }
    let count = std::env::var("EXACTLY_PG_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(count);
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() * 1000)
        .unwrap_or(0);
    println!(
        "seeds {start}..{} (EXACTLY_SEED=<n> replays one)",
        start + count
    );
    (start..start + count).collect()
}
