//! Regression: a producer snapshot from beyond a truncated tail came back to life.
//!
//! `close()` writes a producer snapshot named after the end offset N. If the newest batch
//! is then damaged (a bit flip in the tail), the next open truncates it as a torn tail, and
//! the log ends below N; the snapshot at N is skipped for that open (it lies past the end)
//! but stayed on disk. Once new appends carried the log past N again, the next open picked
//! that stale snapshot: it remembered the truncated batch (a retry of it was answered
//! `Duplicate` with offsets that now hold other records — the retried data was silently
//! dropped) and it skipped the idempotent batches written between the truncation point and
//! N (their retries were appended a second time). Recovery now deletes snapshots past the
//! recovered end.
//!
//! Since the durable-end evidence, such damage after a clean close is refused on open
//! (`DurableDataLost`): the operator's `repair` cuts it, and must delete the stale snapshot
//! just the same.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use common::*;
use exactly_core::{ManualClock, Offset, ProducerId, Sequence, SimStorage};
use exactly_log::{AppendOutcome, LogConfig};

const TOPIC: &str = "snap";

#[test]
fn snapshot_past_a_truncated_tail_is_not_used_later() {
    let storage = SimStorage::new(1);
    let clock = ManualClock::new(0);
    let config = LogConfig::default;
    let log = open_sim(&storage, &clock, config()).unwrap();
    log.create_topic(TOPIC, 1).unwrap();
    // Producer 1: 5 batches of 2 records (offsets 0..10, sequences 0..10).
    for i in 0..5u64 {
        let records = [rec(0, None, b"p1-a"), rec(0, None, b"p1-b")];
        log.append(TOPIC, 0, &records, Some(stamp(1, 0, i * 2)))
            .unwrap();
    }
    log.close().unwrap(); // snapshot at offset 10
    let segment = partition_dir(TOPIC, 0).join(exactly_log::segment_file_name(Offset(0)));
    let mut bytes = storage.live_bytes(&segment).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x20; // damage the newest batch (offsets 8..10)
    storage.overwrite_bytes(&segment, bytes).unwrap();

    let refused = open_sim(&storage, &clock, config()).unwrap_err();
    assert!(
        matches!(
            refused,
            exactly_log::OpenError::DurableDataLost {
                first_lost_offset: Offset(8),
                durable_next_offset: Offset(10),
                ..
            }
        ),
        "{refused}"
    );
    let actions = exactly_log::repair::repair_log(
        &storage,
        std::path::Path::new(LOG_DIR),
        &config(),
        None,
        None,
    )
    .unwrap();
    assert_eq!(actions.len(), 1, "the damaged tail is cut: {actions:?}");
    assert_eq!(actions[0].first_dropped_offset, Offset(8));
    assert_eq!(actions[0].durable_next_offset, Some(Offset(10)));
    let log = open_sim(&storage, &clock, config()).unwrap();
    assert_eq!(log.partition_info(TOPIC, 0).unwrap().end_offset, Offset(8));
    // Producer 2 appends past offset 10; producer 1 re-sends its lost batch later.
    for i in 0..3u64 {
        let records = [rec(0, None, b"p2-a"), rec(0, None, b"p2-b")];
        let got = log
            .append(TOPIC, 0, &records, Some(stamp(2, 0, i * 2)))
            .unwrap();
        assert!(matches!(got, AppendOutcome::Appended { .. }));
    }
    drop(log); // no clean close: the next open must rebuild producer state from the log
    let log = open_sim(&storage, &clock, config()).unwrap();
    assert_eq!(log.partition_info(TOPIC, 0).unwrap().end_offset, Offset(14));
    let p1 = log
        .producer_state(TOPIC, 0, ProducerId(1))
        .unwrap()
        .unwrap();
    assert_eq!(
        p1.last_sequence,
        Some(Sequence(7)),
        "producer 1's truncated batch is forgotten"
    );
    let p2 = log
        .producer_state(TOPIC, 0, ProducerId(2))
        .unwrap()
        .unwrap();
    assert_eq!(p2.last_sequence, Some(Sequence(5)));
    // Retrying producer 2's first batch is a duplicate at its original offsets...
    let retry = log
        .append(
            TOPIC,
            0,
            &[rec(0, None, b"p2-a"), rec(0, None, b"p2-b")],
            Some(stamp(2, 0, 0)),
        )
        .unwrap();
    assert_eq!(
        retry,
        AppendOutcome::Duplicate {
            original: Some((Offset(8), Offset(9)))
        }
    );
    // ...and producer 1's lost batch is appended again, not swallowed as a duplicate.
    let resend = log
        .append(
            TOPIC,
            0,
            &[rec(0, None, b"p1-a"), rec(0, None, b"p1-b")],
            Some(stamp(1, 0, 8)),
        )
        .unwrap();
    assert_eq!(
        resend,
        AppendOutcome::Appended {
            base_offset: Offset(14),
            last_offset: Offset(15)
        }
    );
    let values: Vec<Vec<u8>> = read_all(&log, TOPIC, 0)
        .into_iter()
        .map(|r| r.value)
        .collect();
    assert_eq!(values.len(), 16);
    assert_eq!(values[14], b"p1-a");
}
