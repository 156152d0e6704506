//! The `balances` job with its checkpoints in PostgreSQL, while the test kills the
//! store's backend at checkpoint commits (before `COMMIT`, racing it, or losing its
//! reply) — sometimes twice in a row, more than the store's retries allow, so the run
//! fails in the middle of a commit and the next run must recover from whatever the
//! database holds. Runs are repeated until one completes; then every account's last
//! output equals its balance summed by hand from the generated transfers, and the audit
//! shows each transfer's two halves applied exactly once. Seed printed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::checkpoint_common;

use checkpoint_common::{config, pg_url, seed, terminate, unique_schema, DropSchema};
use exactly_endpoint::serve::ReconnectPolicy;
use exactly_engine::jobs::{balances, generate_transfers, transfer_record, Rejected};
use exactly_engine::{decode_audit, log_topic, Checkpoints, Guarantee, RunOptions, SinkMode};
use exactly_log::{Isolation, Log, LogConfig};
use exactly_postgres::{CommitFault, PostgresCheckpointStore};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const PARTITIONS: u32 = 4;

fn read_all(log: &Log, topic: &str) -> Vec<(u32, exactly_log::StoredRecord)> {
    let mut out = Vec::new();
    for partition in 0..log.partition_count(topic).unwrap_or(0) {
        let info = log.partition_info(topic, partition).unwrap();
        let mut from = info.start_offset;
        while from < info.last_stable_offset {
            let batch = log
                .read_with(topic, partition, from, 1000, Isolation::ReadCommitted)
                .unwrap();
            assert!(batch.next_offset > from);
            out.extend(batch.records.into_iter().map(|r| (partition, r)));
            from = batch.next_offset;
        }
    }
    out
}

#[test]
fn balances_exact_under_connection_loss() {
    let url = pg_url("pg_checkpoint_balances_exact_under_connection_loss");
    let schema = unique_schema("bal");
    let _drop = DropSchema {
        url: url.clone(),
        schema: schema.clone(),
    };
    let seed = seed();
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogConfig::default()).unwrap();
    log.create_topic("transfers", PARTITIONS).unwrap();
    let transfers = generate_transfers(seed, 0, 12_000, 300);
    for (index, chunk) in transfers.chunks(100).enumerate() {
        let records: Vec<_> = chunk.iter().map(|t| transfer_record(t).unwrap()).collect();
        log.append("transfers", index as u32 % PARTITIONS, &records, None)
            .unwrap();
    }
    // The oracle: balances summed by hand from the generated transfers.
    let mut expected: BTreeMap<String, i128> = BTreeMap::new();
    for t in &transfers {
        *expected.entry(t.from.clone()).or_default() -= i128::from(t.amount);
        *expected.entry(t.to.clone()).or_default() += i128::from(t.amount);
    }

    let job = balances("transfers", "balances", Rejected::default()).audit(log_topic("applied"));
    let mut rng = SmallRng::seed_from_u64(seed);
    let (mut runs, mut failed_runs, mut faults) = (0u32, 0u32, 0u32);
    loop {
        runs += 1;
        assert!(runs <= 60, "seed {seed}: no run completed in 60");
        let mut cfg = config(&url, &schema, "balances");
        cfg.reconnect = ReconnectPolicy {
            attempts_max: 2,
            backoff_initial_ms: 1,
            backoff_max_ms: 5,
        };
        let store = PostgresCheckpointStore::connect(&cfg).unwrap();
        let hook_url = url.clone();
        let hook_rng = Arc::new(Mutex::new(SmallRng::seed_from_u64(rng.random())));
        let injected = Arc::new(Mutex::new(0u32));
        let counter = injected.clone();
        store
            .set_commit_hook(Some(Box::new(move |pid| {
                let mut rng = hook_rng.lock().unwrap();
                let roll = rng.random_range(0..10);
                if roll >= 5 {
                    return CommitFault::None;
                }
                *counter.lock().unwrap() += 1;
                match roll {
                    0 => {
                        terminate(&hook_url, pid);
                        CommitFault::None
                    }
                    1 => {
                        let (url, delay_us) = (hook_url.clone(), rng.random_range(0..600));
                        std::thread::spawn(move || {
                            std::thread::sleep(Duration::from_micros(delay_us));
                            terminate(&url, pid);
                        });
                        CommitFault::None
                    }
                    _ => CommitFault::LoseReply,
                }
            })))
            .unwrap();
        let mut options = RunOptions::new(&log, &job, Guarantee::ExactlyOnce);
        options.checkpoints = Checkpoints::Store(Arc::new(store));
        options.parallelism = 1 + runs % 2;
        options.sink_mode = if runs % 3 == 0 {
            SinkMode::Idempotent
        } else {
            SinkMode::Transactional
        };
        options.checkpoint_interval_ms = 3_600_000;
        options.checkpoint_every_records = Some(500);
        options.read_batch_records = 100;
        let result = job.run(&log, &options);
        faults += *injected.lock().unwrap();
        match result {
            Ok(report) => {
                println!("run {runs} completed: {report:?}");
                break;
            }
            Err(error) => {
                failed_runs += 1;
                println!("run {runs} failed: {error}");
            }
        }
    }
    println!("{runs} runs, {failed_runs} failed, {faults} faults injected at commits");
    assert!(faults > 0, "seed {seed}: no fault was injected");

    let mut last: BTreeMap<String, i128> = BTreeMap::new();
    for (_, record) in read_all(&log, "balances") {
        let v: serde_json::Value = serde_json::from_slice(&record.value).unwrap();
        let value: i128 = v["value"].to_string().parse().unwrap();
        last.insert(v["key"].as_str().unwrap().to_string(), value);
    }
    assert_eq!(
        last, expected,
        "seed {seed}: balances differ from the input's"
    );
    let mut applied: BTreeMap<(u32, u64, u32), u32> = BTreeMap::new();
    for (_, record) in read_all(&log, "applied") {
        for lineage in decode_audit(&record.value).unwrap() {
            *applied
                .entry((lineage.partition, lineage.offset, lineage.index))
                .or_default() += 1;
        }
    }
    assert_eq!(applied.len(), transfers.len() * 2, "seed {seed}");
    assert!(
        applied.values().all(|n| *n == 1),
        "seed {seed}: a transfer half applied twice"
    );
}
