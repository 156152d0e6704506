//! Unit tests of `producer` (kept beside it, in their own file).

use super::*;
use exactly_core::Timestamp;

fn stamp(pid: u64, epoch: u16, seq: u64) -> ProducerStamp {
    ProducerStamp {
        producer_id: ProducerId(pid),
        epoch: ProducerEpoch(epoch),
        base_sequence: Sequence(seq),
    }
}

fn header(s: ProducerStamp, count: u32, base: u64) -> BatchHeader {
    BatchHeader {
        base_offset: Offset(base),
        batch_len: 100,
        crc: 0,
        attributes: 0,
        record_count: count,
        first_timestamp: Timestamp(0),
        max_timestamp: Timestamp(0),
        producer: Some(s),
    }
}

#[test]
fn retries_fencing_and_gaps() {
    let mut table = ProducerTable::default();
    assert_eq!(
        table.check(stamp(1, 0, 0), 3, 10),
        Ok(SequenceCheck::Append)
    );
    table.record(&header(stamp(1, 0, 0), 3, 0), 0);
    assert_eq!(
        table.check(stamp(1, 0, 0), 3, 10),
        Ok(SequenceCheck::Duplicate {
            base_offset: Offset(0),
            last_offset: Offset(2)
        })
    );
    assert_eq!(
        table.check(stamp(1, 0, 3), 1, 10),
        Ok(SequenceCheck::Append)
    );
    assert_eq!(
        table.check(stamp(1, 0, 5), 1, 10),
        Err(SequenceViolation::OutOfOrder {
            expected: Sequence(3)
        })
    );
    assert_eq!(
        table.check(stamp(1, 1, 4), 1, 10),
        Err(SequenceViolation::OutOfOrder {
            expected: Sequence(0)
        })
    );
    table.record(&header(stamp(1, 1, 0), 1, 3), 0);
    assert_eq!(
        table.check(stamp(1, 0, 3), 1, 10),
        Err(SequenceViolation::Fenced {
            current: ProducerEpoch(1)
        })
    );
    assert_eq!(
        table.check(stamp(2, 0, 0), 1, 1),
        Err(SequenceViolation::TooManyProducers { max: 1 })
    );
}

fn marker(pid: u64, epoch: u16, kind: ControlKind, offset: u64) -> BatchHeader {
    BatchHeader {
        base_offset: Offset(offset),
        batch_len: 100,
        crc: 0,
        attributes: kind.attributes(),
        record_count: 1,
        first_timestamp: Timestamp(0),
        max_timestamp: Timestamp(0),
        producer: Some(ProducerStamp {
            producer_id: ProducerId(pid),
            epoch: ProducerEpoch(epoch),
            base_sequence: Sequence(crate::batch::NO_SEQUENCE),
        }),
    }
}

fn txn_batch(pid: u64, epoch: u16, seq: u64, count: u32, offset: u64) -> BatchHeader {
    let mut header = header(stamp(pid, epoch, seq), count, offset);
    header.attributes = crate::batch::ATTR_TRANSACTIONAL;
    header
}

#[test]
fn transactions_open_end_and_abort_spans() {
    let mut table = ProducerTable::default();
    table.record(&txn_batch(1, 1, 0, 2, 10), 0);
    table.record(&txn_batch(2, 0, 0, 1, 12), 0);
    assert_eq!(table.first_unstable_offset(), Some(Offset(10)));
    assert_eq!(
        table.check_marker(ProducerId(1), ProducerEpoch(1)),
        Ok(MarkerCheck::Write)
    );
    table.record(&marker(1, 1, ControlKind::Abort, 13), 0);
    assert_eq!(table.first_unstable_offset(), Some(Offset(12)));
    assert_eq!(
        table.aborted_between(Offset(0), Offset(100)),
        vec![AbortedTxn {
            producer_id: 1,
            first_offset: 10,
            last_offset: 13
        }]
    );
    // A re-sent marker finds nothing open; an older epoch's marker is late and fenced.
    assert_eq!(
        table.check_marker(ProducerId(1), ProducerEpoch(1)),
        Ok(MarkerCheck::NothingOpen)
    );
    assert_eq!(
        table.check_marker(ProducerId(1), ProducerEpoch(0)),
        Err(SequenceViolation::Fenced {
            current: ProducerEpoch(1)
        })
    );
    table.record(&marker(2, 0, ControlKind::Commit, 14), 0);
    assert_eq!(table.first_unstable_offset(), None);
    assert_eq!(table.aborted_len(), 1);
    table.prune_aborted(Offset(14));
    assert_eq!(table.aborted_len(), 0);
}

#[test]
fn a_marker_ends_only_its_own_transaction_and_the_fence_refuses_late_batches() {
    // A newer epoch's marker used to end an older open transaction: a lost abort marker
    // then let the next commit expose the aborted records.
    let mut table = ProducerTable::default();
    table.record(&txn_batch(1, 3, 0, 1, 0), 0);
    assert_eq!(
        table.check_marker(ProducerId(1), ProducerEpoch(4)),
        Err(SequenceViolation::OlderTransactionOpen {
            open_epoch: ProducerEpoch(3)
        })
    );
    table.record(&marker(1, 4, ControlKind::Commit, 1), 0);
    assert_eq!(table.first_unstable_offset(), Some(Offset(0)), "still open");
    assert_eq!(
        table.check_marker(ProducerId(1), ProducerEpoch(3)),
        Ok(MarkerCheck::Write)
    );
    table.record(&marker(1, 3, ControlKind::Abort, 2), 0);
    assert_eq!(table.first_unstable_offset(), None);
    assert_eq!(table.aborted_len(), 1);
    // The coordinator's bumped epoch fences a late batch of the ended transaction.
    table.fence(ProducerId(1), ProducerEpoch(4), 0);
    assert_eq!(
        table.check(stamp(1, 3, 1), 1, 10),
        Err(SequenceViolation::Fenced {
            current: ProducerEpoch(4)
        })
    );
}

#[test]
fn a_newer_transaction_cannot_start_while_an_older_one_is_open() {
    let mut table = ProducerTable::default();
    table.record(&txn_batch(1, 3, 0, 1, 0), 0);
    assert_eq!(table.check_transactional(stamp(1, 3, 1)), Ok(()));
    assert_eq!(
        table.check_transactional(stamp(1, 5, 0)),
        Err(SequenceViolation::OlderTransactionOpen {
            open_epoch: ProducerEpoch(3)
        })
    );
    assert_eq!(table.check_transactional(stamp(2, 5, 0)), Ok(()));
    table.record(&marker(1, 3, ControlKind::Commit, 1), 0);
    assert_eq!(table.check_transactional(stamp(1, 5, 0)), Ok(()));
}

#[test]
fn sequences_that_overflow_are_refused() {
    let table = ProducerTable::default();
    assert_eq!(
        table.check(stamp(1, 0, u64::MAX - 1), 3, 10),
        Err(SequenceViolation::Overflow)
    );
}

#[test]
fn old_duplicates_outside_the_window_are_still_duplicates() {
    let mut table = ProducerTable::default();
    for i in 0..10u64 {
        table.record(&header(stamp(1, 0, i * 2), 2, i * 2), 0);
    }
    assert_eq!(
        table.check(stamp(1, 0, 0), 2, 10),
        Ok(SequenceCheck::DuplicateOffsetsUnknown)
    );
    assert_eq!(
        table.get(ProducerId(1)).unwrap().batches.len(),
        RETAINED_BATCHES
    );
}

#[test]
fn snapshot_round_trip_and_expiry() {
    let mut table = ProducerTable::default();
    table.record(&header(stamp(1, 0, 0), 2, 0), 1_000);
    table.record(&header(stamp(2, 0, 0), 2, 2), 5_000);
    let bytes = table.encode_snapshot(Offset(4)).unwrap();
    let (offset, back) = ProducerTable::decode_snapshot(&bytes).unwrap();
    assert_eq!((offset, &back), (Offset(4), &table));
    let mut damaged = bytes.clone();
    damaged[10] ^= 1;
    assert!(ProducerTable::decode_snapshot(&damaged).is_none());
    for i in 0..bytes.len() {
        let mut damaged = bytes.clone();
        damaged[i] ^= 0x04;
        assert!(
            ProducerTable::decode_snapshot(&damaged).is_none(),
            "byte {i}"
        );
    }
    // A snapshot of an older build (`crc32c | JSON`) still reads.
    let json = &bytes[framing::HEADER_BYTES..];
    let mut legacy = crc32c::crc32c(json).to_le_bytes().to_vec();
    legacy.extend_from_slice(json);
    let (offset, back) = ProducerTable::decode_snapshot(&legacy).unwrap();
    assert_eq!((offset, &back), (Offset(4), &table));
    assert_eq!(table.expire(6_000, 2_000), 1);
    assert!(table.get(ProducerId(1)).is_none());
}
