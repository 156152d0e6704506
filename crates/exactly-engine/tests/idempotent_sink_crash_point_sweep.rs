//! The idempotent sink mode under crashes: `balances` runs exactly-once with outputs
//! written ahead in the manifest and published after it with deterministic ids (the log's
//! idempotent producer). The simulated machine crashes at a seed-chosen storage mutation —
//! including between the manifest and the end of publishing — and on odd seeds again
//! during recovery; the job then runs to the end. Every account's last output must equal
//! the reference, the audit (published the same way) must show every transfer half applied
//! exactly once, and over all seeds recovery must have republished a partly published
//! manifest at least once. `EXACTLY_SEEDS` / `EXACTLY_SEED` (default 500 seeds).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use common::sim;
use exactly_core::SimStorage;
use exactly_engine::jobs::{balances, Rejected};
use exactly_engine::{log_topic, SinkMode};

#[test]
fn idempotent_sink_crash_point_sweep() {
    let job = balances("transfers", "balances", Rejected::default()).audit(log_topic("applied"));
    let seeds = sim::seeds(500);
    let mut republished = 0;
    for &seed in &seeds {
        let storage = SimStorage::new(seed);
        let transfers = {
            let log = sim::open(&storage).unwrap();
            common::write_transfers(&log, "transfers", 2, seed, 300, 12)
        };
        if let Some(report) = sim::crash_and_recover(&storage, &job, seed, SinkMode::Idempotent) {
            if report.recovery.republished_outputs > 0 {
                republished += 1;
            }
            assert_eq!(
                report.recovery.committed_transactions, 0,
                "seed {seed}: no transactions in this mode"
            );
        }
        let log = sim::open(&storage).unwrap();
        common::assert_balances_exactly_once(&log, &transfers, &format!("seed {seed}"));
    }
    eprintln!(
        "{} seeds: recovery republished write-ahead outputs in {republished}",
        seeds.len()
    );
    if seeds.len() >= 100 {
        assert!(
            republished > 0,
            "no crash fell between a manifest and its publication"
        );
    }
}
