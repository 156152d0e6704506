//! `producer_audit`: the input file holds one JSON line per id; the audit of a log
//! written as the producer should finds it exactly once, and each fault a log can have —
//! a missing id, a duplicate, ids out of order, a record in the wrong partition, an id
//! never sent — is counted (or refused) as such.

#![allow(clippy::expect_used)] // test helpers: a failed step is the test failing

use exactly_core::Timestamp;
use exactly_log::{partition_for_key, Log, LogConfig, Record};
use exactly_testkit::producer_audit::{
    audit_log, create_topic, write_input, ProducerAudit, ProducerAuditError,
};

const TOPIC: &str = "payments";
const PARTITIONS: u32 = 2;

fn record(id: u64) -> Record {
    Record {
        timestamp: Timestamp(id as i64),
        key: Some(format!("account-{id}").into_bytes()),
        value: id.to_string().into_bytes(),
    }
}

/// A fresh log holding `ids` in this order, each in the partition of its key unless
/// `misplace` names it.
fn log_with(ids: &[u64], misplace: Option<u64>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    create_topic(dir.path(), TOPIC, PARTITIONS).expect("topic");
    let log = Log::open(dir.path(), LogConfig::default()).expect("open");
    for &id in ids {
        let r = record(id);
        let mut partition = partition_for_key(r.key.as_deref().expect("keyed"), PARTITIONS);
        if misplace == Some(id) {
            partition = 1 - partition;
        }
        log.append(TOPIC, partition, &[r], None).expect("append");
    }
    log.close().expect("close");
    dir
}

#[test]
fn producer_audit_counts_each_fault() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("input.jsonl");
    write_input(&input, 3).expect("input");
    let text = std::fs::read_to_string(&input).expect("read input");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[2]["value"], "2");
    assert_eq!(lines[2]["key"], "account-2");

    let clean = log_with(&[0, 1, 2, 3], None);
    let audit = audit_log(clean.path(), TOPIC, 4, PARTITIONS).expect("audit");
    assert_eq!(
        audit,
        ProducerAudit {
            stored: 4,
            ..ProducerAudit::default()
        }
    );
    assert!(audit.exactly_once(4));
    assert!(
        !audit.exactly_once(5),
        "a record not stored is not exactly once"
    );

    let faulty = log_with(&[0, 2, 2, 4, 3, 1], Some(4));
    let audit = audit_log(faulty.path(), TOPIC, 6, PARTITIONS).expect("audit");
    assert_eq!(audit.stored, 6);
    assert_eq!(audit.missing, 1, "id 5 was never stored: {audit:?}");
    assert_eq!(audit.duplicated, 1, "{audit:?}");
    assert_eq!(audit.misrouted, 1, "{audit:?}");
    assert!(
        audit.out_of_order >= 1,
        "the repeat of 2 right after 2: {audit:?}"
    );
    assert!(!audit.exactly_once(6));

    let unsent = log_with(&[0, 9], None);
    let refused = audit_log(unsent.path(), TOPIC, 2, PARTITIONS);
    assert!(
        matches!(refused, Err(ProducerAuditError::NeverSent(9))),
        "{refused:?}"
    );
}
