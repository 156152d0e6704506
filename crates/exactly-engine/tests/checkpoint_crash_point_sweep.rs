//! Crashes landing in each step of the checkpoint protocol, on simulated storage: the `balances`
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

use crate::common;

use common::sim;
use exactly_core::SimStorage;
use exactly_engine::jobs::{balances, Rejected};
use exactly_engine::{log_topic, Job, SinkMode};

fn job() -> Job {
    balances("transfers", "balances", Rejected::default()).audit(log_topic("applied"))
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
        let log = sim::open(&storage).unwrap();
        common::write_transfers(&log, "transfers", 2, seed, 300, 12)
    };
    let Some(report) = sim::crash_and_recover(&storage, &job(), seed, SinkMode::Transactional)
    else {
        return; // the crash point fell after the run: nothing to recover
    };
    let recovery = &report.recovery;
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

    let log = sim::open(&storage).unwrap();
    common::assert_balances_exactly_once(&log, &transfers, &format!("seed {seed}"));
}

#[test]
fn checkpoint_crash_point_sweep() {
    let seeds = sim::seeds(500);
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
