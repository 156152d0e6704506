//! Property: any records (keys, null values, headers with duplicate keys and null values,
//! values that look like the envelope's magic, offsets with gaps, any timestamps) go
//! through the server's translation — Kafka record batch v2 → log record → Kafka record
//! batch v2 — unchanged, and any single flipped byte of a batch is refused (CRC) rather than
//! decoded into different records.

use exactly_core::{Offset, Timestamp};
use exactly_kafka::envelope::{self, Payload, MAGIC};
use exactly_kafka::record_batch::{decode_batches, encode_batches, DecodeLimits};
use exactly_log::{Record, StoredRecord};
use proptest::prelude::*;

fn limits() -> DecodeLimits {
    DecodeLimits {
        records_max: 10_000,
        decompressed_bytes_max: 1 << 24,
    }
}

fn payload() -> impl Strategy<Value = Payload> {
    let bytes = proptest::collection::vec(any::<u8>(), 0..40);
    let value = prop_oneof![
        Just(None),
        Just(Some(MAGIC.to_vec())),
        bytes.clone().prop_map(Some),
    ];
    let header = (bytes.clone(), proptest::option::of(bytes));
    (value, proptest::collection::vec(header, 0..4))
        .prop_map(|(value, headers)| Payload { value, headers })
}

fn stored() -> impl Strategy<Value = Vec<StoredRecord>> {
    proptest::collection::vec(
        (
            1u64..5,
            -1_000i64..1_000,
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20)),
            payload(),
        ),
        1..30,
    )
    .prop_map(|rows| {
        let mut offset = 0;
        rows.into_iter()
            .map(|(gap, ts, key, payload)| {
                offset += gap;
                StoredRecord {
                    offset: Offset(offset),
                    timestamp: Timestamp(1_700_000_000_000 + ts),
                    key,
                    value: envelope::wrap(&payload),
                }
            })
            .collect()
    })
}

proptest! {
    #[test]
    fn batches_round_trip(records in stored()) {
        let mut bytes = Vec::new();
        encode_batches(&records, &mut bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let decoded: Vec<Record> = decode_batches(&bytes, limits())
            .map_err(|e| TestCaseError::fail(e.to_string()))?
            .into_iter()
            .flat_map(|b| b.records)
            .collect();
        let expected: Vec<Record> = records
            .iter()
            .map(|r| Record { timestamp: r.timestamp, key: r.key.clone(), value: r.value.clone() })
            .collect();
        prop_assert_eq!(decoded, expected);
    }

    #[test]
    fn a_flipped_byte_is_refused(records in stored(), at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let mut bytes = Vec::new();
        encode_batches(&records, &mut bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let original = decode_batches(&bytes, limits()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let i = at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        // The base offset and partition leader epoch are not covered by the CRC (as in
        // Kafka) and the server ignores both; any other flip must be refused.
        if let Ok(decoded) = decode_batches(&bytes, limits()) {
            prop_assert_eq!(decoded, original);
        }
    }
}
