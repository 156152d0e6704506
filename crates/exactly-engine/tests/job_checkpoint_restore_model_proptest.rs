//! Checkpoint and restore against a model (proptest): a random schedule of phases — append
//! a random number of transfers, then run `balances` exactly-once with a random
//! parallelism (1–3) and a random checkpoint cadence, crashing the simulated machine at a
//! random point of the run or not at all, then recovering — must leave, after every phase
//! that finished, the balances equal to the model (the reference over everything appended)
//! and every transfer half applied exactly once.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use common::sim;
use exactly_core::{SimStorage, Storage, TearMode};
use exactly_engine::jobs::{
    balances, generate_transfers, reference_balances, transfer_record, Rejected,
};
use exactly_engine::{log_topic, Guarantee, Job, RunOptions};
use proptest::prelude::*;
use std::sync::Arc;

#[derive(Clone, Debug)]
struct Phase {
    transfers: u64,
    parallelism: u32,
    every_records: u64,
    /// Crash after this share (per mille) of the run's storage mutations, or never.
    crash_per_mille: Option<u64>,
}

fn phase() -> impl Strategy<Value = Phase> {
    (
        0u64..200,
        1u32..=3,
        10u64..120,
        prop::option::of(0u64..1000),
    )
        .prop_map(
            |(transfers, parallelism, every_records, crash_per_mille)| Phase {
                transfers,
                parallelism,
                every_records,
                crash_per_mille,
            },
        )
}

fn job() -> Job {
    balances("transfers", "balances", Rejected::default()).audit(log_topic("applied"))
}

fn run(storage: &SimStorage, phase: &Phase) -> Result<(), String> {
    let log = sim::open(storage).map_err(|e| e.to_string())?;
    let job = job();
    let mut options = RunOptions::new(&log, &job, Guarantee::ExactlyOnce);
    options.state_storage = Arc::new(storage.clone()) as Arc<dyn Storage>;
    options.state_dir = "/state/balances".into();
    options.parallelism = phase.parallelism;
    options.checkpoint_interval_ms = 3_600_000;
    options.checkpoint_every_records = Some(phase.every_records);
    options.read_batch_records = 8;
    job.run(&log, &options)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn job_checkpoint_restore_matches_model(seed in any::<u64>(), phases in prop::collection::vec(phase(), 1..5)) {
        let storage = SimStorage::new(seed);
        {
            let log = sim::open(&storage).unwrap();
            log.create_topic("transfers", 2).unwrap();
        }
        let mut model = Vec::new();
        for (i, phase) in phases.iter().enumerate() {
            let transfers = generate_transfers(seed ^ i as u64, model.len() as u64, phase.transfers, 9);
            {
                let log = sim::open(&storage).unwrap();
                for t in &transfers {
                    let record = transfer_record(t).unwrap();
                    let p = exactly_log::partition_for_key(record.key.as_deref().unwrap(), 2);
                    log.append("transfers", p, &[record], None).unwrap();
                }
            }
            model.extend(transfers);
            if let Some(per_mille) = phase.crash_per_mille {
                let probe = storage.fork();
                let before = probe.mutation_count();
                run(&probe, phase).unwrap();
                let span = probe.mutation_count() - before;
                storage.crash_after_mutations(storage.mutation_count() + span * per_mille / 1000);
                let _ = run(&storage, phase);
                storage.crash(TearMode::KeepPrefix);
            }
            run(&storage, phase).unwrap();
            let log = sim::open(&storage).unwrap();
            prop_assert_eq!(common::last_values(&log, "balances"), reference_balances(&model), "phase {}", i);
            let audit = common::audit_counts(&log, "applied");
            prop_assert_eq!(audit.len(), 2 * model.len());
            prop_assert!(audit.values().all(|&n| n == 1));
        }
    }
}
