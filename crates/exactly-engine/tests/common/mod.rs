//! Shared helpers of the engine's integration tests: generated input, reading the balances
//! and the audit back.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use exactly_core::Offset;
use exactly_engine::jobs::{generate_transfers, transfer_record, Transfer};
use exactly_engine::{decode_audit, Lineage};
use exactly_log::Log;
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
        let record = transfer_record(t);
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

/// Every committed record of `topic`, partition by partition.
pub fn read_all(log: &Log, topic: &str) -> Vec<(u32, exactly_log::StoredRecord)> {
    let mut out = Vec::new();
    for p in 0..log.partition_count(topic).unwrap_or(0) {
        let mut from = 0;
        loop {
            let batch = log
                .read_with(
                    topic,
                    p,
                    Offset(from),
                    10_000,
                    exactly_log::Isolation::ReadCommitted,
                )
                .unwrap();
            if batch.records.is_empty() {
                break;
            }
            from = batch.next_offset.0;
            out.extend(batch.records.into_iter().map(|r| (p, r)));
        }
    }
    out
}

/// The last committed value per key of a `{"key":…,"value":…}` output topic.
pub fn last_values(log: &Log, topic: &str) -> BTreeMap<String, i64> {
    let mut values = BTreeMap::new();
    for (_, record) in read_all(log, topic) {
        let json: serde_json::Value = serde_json::from_slice(&record.value).unwrap();
        let key = json["key"].as_str().unwrap().to_string();
        values.insert(key, json["value"].as_i64().unwrap());
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
