//! Transaction recovery under a write scope: a process may only write markers into the
//! partitions it owns. A transaction interrupted while spanning an owned topic `a` and a
//! topic `b` owned elsewhere must get its abort marker in `a`, stay pending in `b` (named
//! by `pending_markers`, its id refusing a new transaction that would overwrite the
//! decision), keep `b`'s `read_committed` readers before its records — and be completed by
//! the next process that owns `b` and `__transactions`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use exactly_core::{Offset, Timestamp};
use exactly_log::batch::ControlKind;
use exactly_log::txn::TxnError;
use exactly_log::{Isolation, Log, LogConfig, Record, TxnState, WriteScope};

fn record(value: &str) -> Record {
    Record {
        timestamp: Timestamp(1),
        key: None,
        value: value.as_bytes().to_vec(),
    }
}

/// Every record of `topic`/0 that `read_committed` shows, as text.
fn committed(log: &Log, topic: &str) -> Vec<String> {
    log.read_with(topic, 0, Offset(0), 1000, Isolation::ReadCommitted)
        .unwrap()
        .records
        .into_iter()
        .map(|r| String::from_utf8(r.value).unwrap())
        .collect()
}

#[test]
fn markers_for_unowned_partitions_wait_for_their_owner() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    {
        let log = Log::open(dir, LogConfig::default()).unwrap();
        log.create_topic("a", 1).unwrap();
        log.create_topic("b", 1).unwrap();
        log.append("b", 0, &[record("before")], None).unwrap();
        let mut producer = log.transactional_producer("t", 600_000).unwrap();
        producer.begin().unwrap();
        producer.send("a", 0, &[record("a-open")]).unwrap();
        producer.send("b", 0, &[record("b-open")]).unwrap();
        // The process dies with the transaction open: no abort on drop.
        std::mem::forget(producer);
    }

    let scope_a = WriteScope::topics(["a"]).with_transactions();
    {
        let log = Log::open_scoped(dir, LogConfig::default(), scope_a.clone()).unwrap();
        let pending = log.pending_markers();
        assert_eq!(pending.len(), 1, "{pending:?}");
        assert_eq!((pending[0].topic.as_str(), pending[0].partition), ("b", 0));
        assert_eq!(pending[0].kind, ControlKind::Abort);
        assert_eq!(pending[0].transactional_id.as_deref(), Some("t"));
        // `a` is ended (its last stable offset passed the marker); `b` is not.
        assert!(log
            .partition_info("a", 0)
            .unwrap()
            .open_transactions
            .is_empty());
        assert_eq!(
            log.partition_info("b", 0).unwrap().open_transactions.len(),
            1
        );
        assert_eq!(committed(&log, "b"), vec!["before".to_string()]);
        let state = log
            .transactions()
            .unwrap()
            .into_iter()
            .find(|m| m.transactional_id == "t")
            .unwrap()
            .state;
        assert_eq!(state, TxnState::PrepareAbort, "the decision must be kept");
        match log.transactional_producer("t", 600_000) {
            Err(TxnError::PendingOutsideScope { topic, .. }) => assert_eq!(topic, "b"),
            other => panic!("expected PendingOutsideScope, got {other:?}"),
        };
    }

    // The next owner of `b` completes the transaction.
    let scope_b = WriteScope::topics(["b"]).with_transactions();
    let log = Log::open_scoped(dir, LogConfig::default(), scope_b).unwrap();
    assert!(log.pending_markers().is_empty());
    assert!(log
        .partition_info("b", 0)
        .unwrap()
        .open_transactions
        .is_empty());
    let mut producer = log.transactional_producer("t", 600_000).unwrap();
    producer.begin().unwrap();
    producer.send("b", 0, &[record("b-next")]).unwrap();
    producer.commit().unwrap();
    drop(producer);
    assert_eq!(
        committed(&log, "b"),
        vec!["before".to_string(), "b-next".to_string()]
    );
    assert!(committed(&log, "a").is_empty());
}
