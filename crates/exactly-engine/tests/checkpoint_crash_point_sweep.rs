//! Crash at every step of the checkpoint protocol, on simulated storage: the `balances`
//! job runs exactly-once over generated transfers until the simulated machine stops after
//! a random number of storage mutations — inside a state snapshot hand-off, the sink's
//! transaction (begin, send, prepare, commit markers), the manifest write (temp, fsync,
//! rename, fsync dir) or the pruning of old checkpoints. The machine crashes (unsynced
//! bytes lost or torn), the log and the job recover, odd seeds crash a second time during
//! recovery, and the job runs to the end of its input. Then:
//! - every account's last committed output equals the reference balance;
//! - the audit (written in the same transactions) shows every transfer's debit and
//!   credit applied exactly once;
//! - over all seeds, recovery was seen committing a prepared transaction (crash between
//!   manifest and commit), aborting one (crash before the manifest), restoring with nothing
//!   to settle, and starting with no checkpoint at all.
//!
//! `EXACTLY_SEEDS=N` runs more seeds (default 500); `EXACTLY_SEED=S` reruns one. A failure
//! prints its seed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use exactly_core::{ManualClock, SimStorage, Storage, TearMode};
use exactly_engine::jobs::{balances, reference_balances, Rejected};
use exactly_engine::{log_topic, Guarantee, Job, RunOptions, RunReport};
use exactly_log::{Durability, Log, LogConfig};
use std::sync::Arc;

const LOG_DIR: &str = "/log";
const TEARS: [TearMode; 4] = [
    TearMode::DropUnsynced,
    TearMode::KeepPrefix,
    TearMode::PrefixThenGarbage,
    TearMode::PrefixThenZeros,
];

fn config() -> LogConfig {
    LogConfig {
        durability: Durability::Immediate,
        segment_bytes_max: 64 * 1024,
        batch_bytes_max: 16 * 1024,
        ..LogConfig::default()
    }
}

fn open(storage: &SimStorage) -> Result<Log, exactly_log::OpenError> {
    Log::open_with(
        Arc::new(storage.clone()),
        Arc::new(ManualClock::new(1_000_000)),
        LOG_DIR,
        config(),
    )
}

fn job() -> Job {
    balances("transfers", "balances", Rejected::default()).audit(log_topic("applied"))
}

fn options(log: &Log, storage: &SimStorage, seed: u64) -> RunOptions {
    let job = job();
    let mut options = RunOptions::new(log, &job, Guarantee::ExactlyOnce);
    options.state_storage = Arc::new(storage.clone()) as Arc<dyn Storage>;
    options.state_dir = "/state/balances".into();
    options.parallelism = 1 + (seed % 2) as u32;
    options.checkpoint_interval_ms = 3_600_000;
    options.checkpoint_every_records = Some(40 + seed % 50);
    options.read_batch_records = 16;
    options.checkpoints_kept = 2;
    options
}

fn run(storage: &SimStorage, seed: u64) -> Result<RunReport, String> {
    let log = open(storage).map_err(|e| e.to_string())?;
    let job = job();
    job.run(&log, &options(&log, storage, seed))
        .map_err(|e| e.to_string())
}

#[derive(Default)]
struct Seen {
    committed_prepared: u32,
    aborted: u32,
    nothing_to_settle: u32,
    no_checkpoint: u32,
}

fn sweep_one(seed: u64, seen: &mut Seen) {
    let storage = SimStorage::new(seed);
    let transfers = {
        let log = open(&storage).unwrap();
        common::write_transfers(&log, "transfers", 2, seed, 300, 12)
    };
    // Measure this seed's fault-free mutation count on a copy of the machine.
    let probe = storage.fork();
    let before = probe.mutation_count();
    run(&probe, seed).unwrap_or_else(|e| panic!("seed {seed}: fault-free run failed: {e}"));
    let mutations = probe.mutation_count() - before;

    let crash_at = storage.mutation_count() + (seed.wrapping_mul(0x9E37_79B9) % mutations.max(1));
    storage.crash_after_mutations(crash_at);
    let first = run(&storage, seed);
    storage.crash(TEARS[(seed % 4) as usize]);
    if first.is_ok() {
        return; // the crash point fell after the run: nothing to recover
    }
    if seed % 2 == 1 {
        storage.crash_after_mutations(seed % 40);
        let _ = run(&storage, seed);
        if storage.is_crashed() {
            storage.crash(TEARS[((seed / 4) % 4) as usize]);
        } else {
            storage.crash_after_mutations(u64::MAX);
        }
    }
    let report =
        run(&storage, seed).unwrap_or_else(|e| panic!("seed {seed}: recovery run failed: {e}"));
    let recovery = &report.recovery;
    if std::env::var("EXACTLY_VERBOSE").is_ok() {
        eprintln!("seed {seed}: crash after {crash_at} of {mutations}: {recovery:?} {first:?}");
    }
    if recovery.committed_transactions > 0 {
        seen.committed_prepared += 1;
    }
    if recovery.aborted_transactions > 0 {
        seen.aborted += 1;
    }
    if recovery.checkpoint_id.is_none() {
        seen.no_checkpoint += 1;
    } else if recovery.committed_transactions + recovery.aborted_transactions == 0 {
        seen.nothing_to_settle += 1;
    }

    let log = open(&storage).unwrap();
    let balances = common::last_values(&log, "balances");
    assert_eq!(
        balances,
        reference_balances(&transfers),
        "seed {seed}: balances differ"
    );
    let audit = common::audit_counts(&log, "applied");
    assert_eq!(
        audit.len(),
        2 * transfers.len(),
        "seed {seed}: applied events missing"
    );
    if let Some((lineage, n)) = audit.iter().find(|(_, n)| **n != 1) {
        panic!("seed {seed}: {lineage:?} applied {n} times");
    }
}

#[test]
fn checkpoint_crash_point_sweep() {
    let seeds: Vec<u64> = match std::env::var("EXACTLY_SEED") {
        Ok(seed) => vec![seed.parse().unwrap()],
        Err(_) => {
            let n = std::env::var("EXACTLY_SEEDS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(500);
            (0..n).collect()
        }
    };
    let mut seen = Seen::default();
    for &seed in &seeds {
        sweep_one(seed, &mut seen);
    }
    eprintln!(
        "{} seeds: prepared committed by recovery {}, aborted {}, nothing to settle {}, no checkpoint {}",
        seeds.len(),
        seen.committed_prepared,
        seen.aborted,
        seen.nothing_to_settle,
        seen.no_checkpoint
    );
    if seeds.len() >= 100 {
        assert!(
            seen.committed_prepared > 0,
            "no crash between manifest and commit"
        );
        assert!(seen.aborted > 0, "no crash before a manifest");
        assert!(seen.nothing_to_settle > 0);
        assert!(seen.no_checkpoint > 0);
    }
}
