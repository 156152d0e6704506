//! Shared helpers of the engine's integration tests: generated input, reading the balances
//! and the audit back.
//!
//! Outputs are read with a naive reader of their own — a plain `read_with` loop with
//! read-committed isolation up to each partition's last stable offset, records decoded by
//! hand — never through the engine's `jobs::for_each_committed` or `jobs::last_values`, so
//! a bug in those cannot hide itself in the tests.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use exactly_engine::jobs::{generate_transfers, transfer_record, Transfer};
use exactly_engine::{decode_audit, Lineage};
use exactly_log::{Isolation, Log};
use std::collections::BTreeMap;

/// Appends `count` generated transfers to `topic` (created with `partitions`), routed by
/// their key like a producer would.
pub fn write_transfers(
    log: &Log,
    topic: &str,
    partitions: u32,
    seed: u64,
    count: u64,
    accounts: u64,
) -> Vec<Transfer> {
    log.create_topic(topic, partitions).unwrap();
    let transfers = generate_transfers(seed, 0, count, accounts);
    let mut by_partition: BTreeMap<u32, Vec<exactly_log::Record>> = BTreeMap::new();
    for t in &transfers {
        let record = transfer_record(t).unwrap();
        let p = exactly_log::partition_for_key(record.key.as_deref().unwrap(), partitions);
        by_partition.entry(p).or_default().push(record);
    }
    for (p, records) in by_partition {
        for chunk in records.chunks(100) {
            log.append(topic, p, chunk, None).unwrap();
        }
    }
    transfers
}

/// Every committed record of `topic`, partition by partition (none if it does not exist).
pub fn read_all(log: &Log, topic: &str) -> Vec<(u32, exactly_log::StoredRecord)> {
    let mut out = Vec::new();
    let Some(partitions) = log.partition_count(topic) else {
        return out;
    };
    for partition in 0..partitions {
        let info = log.partition_info(topic, partition).unwrap();
        let mut from = info.start_offset;
        while from < info.last_stable_offset {
            let batch = log
                .read_with(topic, partition, from, 1000, Isolation::ReadCommitted)
                .unwrap();
            assert!(
                batch.next_offset > from,
                "{topic}/{partition}: read at {from:?} made no progress"
            );
            for record in &batch.records {
                assert!(record.offset >= from && record.offset < batch.next_offset);
            }
            out.extend(batch.records.into_iter().map(|r| (partition, r)));
            from = batch.next_offset;
        }
    }
    out
}

/// The last committed value per key of a `{"key":…,"value":…}` output topic, decoded by
/// hand (a key's records all live in one partition, in commit order).
pub fn last_values(log: &Log, topic: &str) -> BTreeMap<String, i128> {
    let mut values = BTreeMap::new();
    for (partition, record) in read_all(log, topic) {
        let json: serde_json::Value = serde_json::from_slice(&record.value)
            .unwrap_or_else(|e| panic!("{topic}/{partition}@{:?}: {e}", record.offset));
        let key = json["key"].as_str().expect("a string key").to_string();
        let value: i128 = match &json["value"] {
            serde_json::Value::Number(n) => n.to_string().parse().expect("an integer value"),
            other => panic!("{topic}/{partition}: value {other} is not a number"),
        };
        values.insert(key, value);
    }
    values
}

/// How many times each lineage was applied, per the audit topic.
pub fn audit_counts(log: &Log, topic: &str) -> BTreeMap<Lineage, u32> {
    let mut counts = BTreeMap::new();
    for (_, record) in read_all(log, topic) {
        for lineage in decode_audit(&record.value).unwrap() {
            *counts.entry(lineage).or_insert(0) += 1;
        }
    }
    counts
}

/// Simulated machines for crash tests.
pub mod sim {
    use exactly_core::{ManualClock, SimStorage, Storage, TearMode};
    use exactly_engine::{Guarantee, Job, RunOptions, RunReport, SinkMode};
    use exactly_log::{Durability, Log, LogConfig};
    use std::sync::Arc;

    const LOG_DIR: &str = "/log";
    const TEARS: [TearMode; 4] = [
        TearMode::DropUnsynced,
        TearMode::KeepPrefix,
        TearMode::PrefixThenGarbage,
        TearMode::PrefixThenZeros,
    ];

    /// Opens the log of a simulated machine (small segments and batches).
    pub fn open(storage: &SimStorage) -> Result<Log, exactly_log::OpenError> {
        let config = LogConfig {
            durability: Durability::Immediate,
            segment_bytes_max: 64 * 1024,
            batch_bytes_max: 16 * 1024,
            ..LogConfig::default()
        };
        Log::open_with(
            Arc::new(storage.clone()),
            Arc::new(ManualClock::new(1_000_000)),
            LOG_DIR,
            config,
        )
    }

    /// Exactly-once options cutting a checkpoint every 40–90 records, parallelism 1–2.
    pub fn options(
        log: &Log,
        job: &Job,
        storage: &SimStorage,
        seed: u64,
        mode: SinkMode,
    ) -> RunOptions {
        let mut options = RunOptions::new(log, job, Guarantee::ExactlyOnce);
        options.sink_mode = mode;
        options.state_storage = Arc::new(storage.clone()) as Arc<dyn Storage>;
        options.state_dir = format!("/state/{}", job.name()).into();
        options.parallelism = 1 + (seed % 2) as u32;
        options.checkpoint_interval_ms = 3_600_000;
        options.checkpoint_every_records = Some(40 + seed % 50);
        options.read_batch_records = 16;
        options.checkpoints_kept = 2;
        options
    }

    /// Runs `job` on the machine once.
    pub fn run(
        storage: &SimStorage,
        job: &Job,
        seed: u64,
        mode: SinkMode,
    ) -> Result<RunReport, String> {
        let log = open(storage).map_err(|e| e.to_string())?;
        job.run(&log, &options(&log, job, storage, seed, mode))
            .map_err(|e| e.to_string())
    }

    /// Runs `job` with the machine crashing after a seed-chosen number of mutations (within
    /// what a fault-free run needs), crashes again during recovery on odd seeds, then runs
    /// it to the end. Returns the final run's report, or `None` if the crash point fell
    /// after the first run finished.
    pub fn crash_and_recover(
        storage: &SimStorage,
        job: &Job,
        seed: u64,
        mode: SinkMode,
    ) -> Option<RunReport> {
        let probe = storage.fork();
        let before = probe.mutation_count();
        run(&probe, job, seed, mode)
            .unwrap_or_else(|e| panic!("seed {seed}: fault-free run failed: {e}"));
        let mutations = probe.mutation_count() - before;
        let crash_at =
            storage.mutation_count() + (seed.wrapping_mul(0x9E37_79B9) % mutations.max(1));
        storage.crash_after_mutations(crash_at);
        let first = run(storage, job, seed, mode);
        let crashed = storage.is_crashed();
        assert!(
            first.is_ok() || crashed,
            "seed {seed}: failed without a crash: {first:?}"
        );
        storage.crash(TEARS[(seed % 4) as usize]);
        if !crashed {
            return None; // the crash point fell after the run
        }
        if seed % 2 == 1 {
            storage.crash_after_mutations(seed % 40);
            let _ = run(storage, job, seed, mode);
            if storage.is_crashed() {
                storage.crash(TEARS[((seed / 4) % 4) as usize]);
            } else {
                storage.crash_after_mutations(u64::MAX);
            }
        }
        let report = run(storage, job, seed, mode)
            .unwrap_or_else(|e| panic!("seed {seed}: recovery run failed: {e}"));
        Some(report)
    }

    /// Seeds to run: `EXACTLY_SEED` (one) or `0..EXACTLY_SEEDS` (default `default`).
    pub fn seeds(default: u64) -> Vec<u64> {
        match std::env::var("EXACTLY_SEED") {
            Ok(seed) => vec![seed.parse().unwrap()],
            Err(_) => {
                let n = std::env::var("EXACTLY_SEEDS")
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(default);
                (0..n).collect()
            }
        }
    }
}

/// Committed windows of a window-count output: (key, start) → (end, count, times emitted).
pub fn windows(log: &Log, topic: &str) -> BTreeMap<(String, i64), (i64, u64, u32)> {
    let mut out: BTreeMap<(String, i64), (i64, u64, u32)> = BTreeMap::new();
    if log.partition_count(topic).is_none() {
        return out;
    }
    for (_, record) in read_all(log, topic) {
        let w: exactly_engine::Windowed<String, u64> =
            serde_json::from_slice(&record.value).unwrap();
        let entry = out.entry((w.key, w.start_ms)).or_insert((w.end_ms, 0, 0));
        entry.1 = w.value;
        entry.2 += 1;
    }
    out
}

/// Reference window counts of transfers: (from account, window start) → (end, count).
pub fn reference_windows(
    transfers: &[Transfer],
    window_ms: i64,
) -> BTreeMap<(String, i64), (i64, u64)> {
    let mut out: BTreeMap<(String, i64), (i64, u64)> = BTreeMap::new();
    for t in transfers {
        let ts = transfer_record(t).unwrap().timestamp.0;
        let start = ts.div_euclid(window_ms) * window_ms;
        out.entry((t.from.clone(), start))
            .or_insert((start + window_ms, 0))
            .1 += 1;
    }
    out
}

/// Asserts the `balances` job's end state: every account's last output equals the
/// reference over `transfers`, and the `applied` audit shows each transfer half once.
pub fn assert_balances_exactly_once(log: &Log, transfers: &[Transfer], context: &str) {
    let reference = exactly_engine::jobs::reference_balances(transfers);
    assert_eq!(
        last_values(log, "balances"),
        reference,
        "{context}: balances differ"
    );
    let audit = audit_counts(log, "applied");
    assert_eq!(
        audit.len(),
        2 * transfers.len(),
        "{context}: applied events missing"
    );
    if let Some((lineage, n)) = audit.iter().find(|(_, n)| **n != 1) {
        panic!("{context}: {lineage:?} applied {n} times");
    }
}
