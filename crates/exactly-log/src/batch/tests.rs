//! Unit tests of `batch` (kept beside it, in their own file).

use super::*;

fn record(ts: i64, key: Option<&str>, value: &str) -> Record {
    Record {
        timestamp: Timestamp(ts),
        key: key.map(|k| k.as_bytes().to_vec()),
        value: value.as_bytes().to_vec(),
    }
}

#[test]
fn round_trip_keeps_records_offsets_and_producer() {
    let records = vec![
        record(100, Some("k"), "v1"),
        record(90, None, ""),
        record(250, Some(""), "x"),
    ];
    let stamp = ProducerStamp {
        producer_id: ProducerId(7),
        epoch: ProducerEpoch(3),
        base_sequence: Sequence(41),
    };
    let mut batch = EncodedBatch::encode(&records, Some(stamp), 0, 1 << 20).unwrap();
    let bytes = batch.seal(Offset(1000)).to_vec();
    let header = check_batch(&bytes, 1 << 20).unwrap();
    assert_eq!(header.base_offset, Offset(1000));
    assert_eq!(header.record_count, 3);
    assert_eq!(header.max_timestamp, Timestamp(250));
    assert_eq!(header.producer, Some(stamp));
    assert_eq!(header.last_sequence(), Some(Sequence(43)));
    let mut out = Vec::new();
    decode_records(&header, &bytes, &mut out).unwrap();
    let back: Vec<Record> = out
        .iter()
        .map(|r| Record {
            timestamp: r.timestamp,
            key: r.key.clone(),
            value: r.value.clone(),
        })
        .collect();
    assert_eq!(back, records);
    assert_eq!(out[2].offset, Offset(1002));
}

#[test]
fn every_bit_flip_is_detected() {
    let records = vec![record(1, Some("key"), "value"), record(2, None, "other")];
    let mut batch = EncodedBatch::encode(&records, None, 0, 1 << 20).unwrap();
    let bytes = batch.seal(Offset(5)).to_vec();
    for bit in 0..bytes.len() * 8 {
        let mut damaged = bytes.clone();
        damaged[bit / 8] ^= 1 << (bit % 8);
        assert!(
            check_batch(&damaged, 1 << 20).is_err(),
            "flip of bit {bit} undetected"
        );
    }
}

#[test]
fn headers_whose_offsets_or_sequences_overflow_are_refused() {
    let stamp = ProducerStamp {
        producer_id: ProducerId(1),
        epoch: ProducerEpoch(0),
        base_sequence: Sequence(u64::MAX - 1),
    };
    let mut batch = EncodedBatch::encode(
        &[record(1, None, "a"), record(2, None, "b")],
        Some(stamp),
        0,
        1 << 20,
    )
    .unwrap();
    let bytes = batch.seal(Offset(0)).to_vec();
    assert_eq!(
        check_batch(&bytes, 1 << 20).unwrap_err(),
        DecodeError::BadRecords("sequences overflow u64")
    );
    let mut batch = EncodedBatch::encode(&[record(1, None, "a")], None, 0, 1 << 20).unwrap();
    let bytes = batch.seal(Offset(u64::MAX)).to_vec();
    assert_eq!(
        check_batch(&bytes, 1 << 20).unwrap_err(),
        DecodeError::BadRecords("offsets overflow u64")
    );
}

#[test]
fn oversize_batches_are_rejected_while_encoding() {
    let records = vec![record(1, None, &"x".repeat(1000))];
    let err = EncodedBatch::encode(&records, None, 0, 512).unwrap_err();
    assert!(matches!(err, EncodeError::TooLarge { .. }));
    assert_eq!(
        EncodedBatch::encode(&[], None, 0, 512).unwrap_err(),
        EncodeError::Empty
    );
}
