//! An independent oracle for the `run balances` tests: it opens the log in-process after
//! the job has stopped and reads it with a plain read-committed `read_with` loop, computes
//! the reference balances from the input by hand and counts every audited lineage —
//! without `exactly run check` or the engine's `jobs::for_each_committed`, so a bug in the
//! product's checker cannot hide itself.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use exactly_log::{Isolation, Log, LogConfig, StoredRecord};
use std::collections::BTreeMap;
use std::path::Path;

/// Every committed record of `topic` (none if it does not exist).
pub fn read_all(log: &Log, topic: &str) -> Vec<(u32, StoredRecord)> {
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
            assert!(batch.next_offset > from, "{topic}/{partition}: no progress");
            out.extend(batch.records.into_iter().map(|r| (partition, r)));
            from = batch.next_offset;
        }
    }
    out
}

/// Asserts, reading `dir`'s log directly: every account's last output in `output` equals
/// its balance computed from the transfers in `input`, and (with `audit`) every debit and
/// credit of every transfer was applied exactly once (R = UR = 1).
pub fn assert_balances_exactly_once(dir: &Path, input: &str, output: &str, audit: Option<&str>) {
    let log = Log::open(dir, LogConfig::default()).unwrap();
    let mut reference: BTreeMap<String, i128> = BTreeMap::new();
    let mut expected: BTreeMap<(u32, u64, u32), u32> = BTreeMap::new();
    for (partition, record) in read_all(&log, input) {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&record.value) else {
            continue;
        };
        let (Some(from), Some(to), Some(amount), true) = (
            v["from"].as_str(),
            v["to"].as_str(),
            v["amount"].as_i64(),
            v["id"].is_u64(),
        ) else {
            continue;
        };
        *reference.entry(from.to_string()).or_insert(0) -= i128::from(amount);
        *reference.entry(to.to_string()).or_insert(0) += i128::from(amount);
        expected.insert((partition, record.offset.0, 0), 0);
        expected.insert((partition, record.offset.0, 1), 0);
    }
    let mut last: BTreeMap<String, i128> = BTreeMap::new();
    for (_, record) in read_all(&log, output) {
        let v: serde_json::Value = serde_json::from_slice(&record.value).unwrap();
        let value: i128 = v["value"].to_string().parse().unwrap();
        last.insert(v["key"].as_str().unwrap().to_string(), value);
    }
    assert_eq!(last, reference, "balances differ from the input's");
    let Some(audit) = audit else {
        return;
    };
    let mut applied = 0u64;
    for (_, record) in read_all(&log, audit) {
        for lineage in exactly_engine::decode_audit(&record.value).unwrap() {
            applied += 1;
            let key = (lineage.partition, lineage.offset, lineage.index);
            let count = expected
                .get_mut(&key)
                .unwrap_or_else(|| panic!("{lineage:?} applied but not in the input"));
            *count += 1;
        }
    }
    let wrong: Vec<_> = expected.iter().filter(|(_, n)| **n != 1).take(5).collect();
    assert!(
        wrong.is_empty(),
        "events not applied exactly once (lineage → times): {wrong:?}"
    );
    assert_eq!(applied, expected.len() as u64);
}
