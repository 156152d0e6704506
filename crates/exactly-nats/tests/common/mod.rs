//! What the NATS tests share: their own servers, the machine's 2.9.10, unique names.

#![allow(dead_code)] // Each test file uses a part.
// Test helpers, not library code: a panic is the failure report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use exactly_nats::server::{server_binary, NatsCluster, NatsServer};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Whether missing services fail the test (CI) instead of skipping it.
pub fn services_required() -> bool {
    std::env::var("EXACTLY_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// A single node (`sync_interval: always`) in `dir`, ready; `None` (skip, with a note) when
/// no binary is installed and services are not required.
pub fn single_node(dir: &std::path::Path) -> Option<NatsServer> {
    if server_binary().is_err() && !services_required() {
        eprintln!("skipped: no nats-server binary (run .ci/setup-nats)");
        return None;
    }
    let server = NatsServer::start_single(dir).expect("starting nats-server");
    server.wait_ready(10_000).expect("nats-server ready");
    Some(server)
}

/// A 3-node cluster in `dir`, ready; `None` as for [`single_node`].
pub fn cluster(dir: &std::path::Path) -> Option<NatsCluster> {
    if server_binary().is_err() && !services_required() {
        eprintln!("skipped: no nats-server binary (run .ci/setup-nats)");
        return None;
    }
    let cluster = NatsCluster::start(dir).expect("starting a nats cluster");
    cluster.wait_ready(10_000).expect("cluster ready");
    Some(cluster)
}

/// The machine's NATS (2.9.10) from `EXACTLY_NATS_URL`, default `nats://127.0.0.1:4222`;
/// `None` (skip) when unreachable and services are not required.
pub fn machine_nats() -> Option<String> {
    let url = std::env::var("EXACTLY_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let host = url.trim_start_matches("nats://").to_string();
    if std::net::TcpStream::connect(&host).is_err() {
        assert!(!services_required(), "NATS at {url} is unreachable");
        eprintln!("skipped: NATS at {url} is unreachable");
        return None;
    }
    Some(url)
}

/// A topic name no other test (of this run or a parallel one) uses.
pub fn unique_topic(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{prefix}.{}-{}-{}",
        std::process::id(),
        nanos % 1_000_000_000,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Seed from `EXACTLY_SEED` or the clock, printed.
pub fn seed() -> u64 {
    let seed = std::env::var("EXACTLY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("seed: {seed} (EXACTLY_SEED={seed} replays)");
    seed
}
