//! `generate::write_transfers` appends transfers whose ids continue after what the topic
//! holds (a second call adds new ones), places each record in the partition of its key,
//! refuses fewer than two accounts; `write_lines` writes keyed lines of words.

#![allow(clippy::expect_used)] // test helpers: a failed step is the test failing

use exactly_core::Offset;
use exactly_engine::generate::{write_lines, write_transfers, GenError, GenSummary, GenTarget};
use exactly_engine::jobs::parse_transfer;
use exactly_log::{partition_for_key, Log, LogConfig};

fn records_in(dir: &std::path::Path, topic: &str) -> Vec<(u32, exactly_log::StoredRecord)> {
    let log = Log::open_read_only(dir, LogConfig::default()).expect("open");
    let partitions = log.partition_count(topic).expect("topic exists");
    let mut all = Vec::new();
    for p in 0..partitions {
        let records = log.read(topic, p, Offset(0), 1_000_000).expect("read");
        all.extend(records.into_iter().map(|r| (p, r)));
    }
    all
}

#[test]
fn generate_continues_ids_after_existing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = GenTarget {
        dir: dir.path().to_path_buf(),
        topic: "transfers".to_string(),
        partitions: 3,
        count: 250,
        seed: 5,
    };
    let first = write_transfers(&target, 10).expect("first");
    let expected = GenSummary {
        topic: "transfers".to_string(),
        partitions: 3,
        written: 250,
        first_id: 0,
        total: 250,
    };
    assert_eq!(first, expected);
    let again = GenTarget {
        partitions: 7, // ignored: the topic exists
        count: 100,
        ..target.clone()
    };
    let second = write_transfers(&again, 10).expect("second");
    assert_eq!(
        (second.partitions, second.first_id, second.total),
        (3, 250, 350)
    );

    let records = records_in(dir.path(), "transfers");
    assert_eq!(records.len(), 350);
    let mut ids: Vec<u64> = Vec::new();
    for (partition, record) in &records {
        let key = record.key.as_deref().expect("keyed");
        assert_eq!(partition_for_key(key, 3), *partition);
        parse_transfer(&record.value).expect("a transfer");
        let value: serde_json::Value = serde_json::from_slice(&record.value).expect("json");
        ids.push(value["id"].as_u64().expect("an id"));
    }
    ids.sort_unstable();
    assert_eq!(ids, (0..350).collect::<Vec<_>>(), "every id once");

    let too_few = write_transfers(&target, 1);
    assert!(
        matches!(too_few, Err(GenError::TooFewAccounts(1))),
        "{too_few:?}"
    );

    let words = GenTarget {
        topic: "lines".to_string(),
        count: 40,
        ..target
    };
    let summary = write_lines(&words, 20).expect("lines");
    assert_eq!((summary.written, summary.total), (40, 40));
    let lines = records_in(dir.path(), "lines");
    assert_eq!(lines.len(), 40);
    for (_, record) in &lines {
        let key = String::from_utf8(record.key.clone().expect("keyed")).expect("utf8");
        assert!(key.starts_with("line-"), "{key}");
        assert!(!record.value.is_empty());
    }
}
