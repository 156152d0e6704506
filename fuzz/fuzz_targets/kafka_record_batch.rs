//! Fuzzes the Kafka record-batch decoder (batches v2, every codec, bounded decompression)
//! that a produce request's records go through. It must never panic, never hold more than
//! the decompression limit plus a multiple of the input, and what it decodes must survive
//! the server's encoder (as a fetch would return it) and decode to the same records.
#![no_main]

#[path = "common/mod.rs"]
mod common;

use exactly_core::Offset;
use exactly_kafka::envelope;
use exactly_kafka::record_batch::{decode_batches, encode_batches, DecodeLimits};
use exactly_log::StoredRecord;
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: common::CountingAlloc = common::CountingAlloc;

const LIMITS: DecodeLimits = DecodeLimits {
    records_max: 10_000,
    decompressed_bytes_max: 1 << 20,
};

/// Rewrites each batch's CRC32C (bytes 17..21, over everything after them) so the fuzzer
/// reaches the attributes, the decompression and the records behind the checksum.
fn with_valid_crcs(mut bytes: Vec<u8>) -> Vec<u8> {
    let mut at = 0;
    while let Some(len) = bytes.get(at + 8..at + 12) {
        let len = i32::from_be_bytes(len.try_into().expect("4 bytes"));
        let Ok(len) = usize::try_from(len) else { break };
        let end = (at + 12 + len).min(bytes.len());
        if end < at + 21 {
            break;
        }
        let crc = crc32c::crc32c(&bytes[at + 21..end]);
        bytes[at + 17..at + 21].copy_from_slice(&crc.to_be_bytes());
        at = end;
    }
    bytes
}

fuzz_target!(|data: &[u8]| {
    let Some((&path, rest)) = data.split_first() else {
        return;
    };
    let bytes = if path & 1 == 0 {
        rest.to_vec()
    } else {
        with_valid_crcs(rest.to_vec())
    };
    let data = bytes.as_slice();
    // A stored value read back for a fetch: the envelope (headers, null values) inside it.
    if let Ok(payload) = envelope::unwrap(rest) {
        let again = envelope::unwrap(&envelope::wrap(&payload)).expect("our own envelope");
        assert_eq!(
            again, payload,
            "an envelope must survive wrap → unwrap unchanged"
        );
    }
    let (decoded, usage) = common::measure(|| decode_batches(data, LIMITS));
    // Decompressed bodies are bounded by the limit; records (key, value, headers in an
    // envelope, each a `Vec`) by a multiple of the decompressed bytes.
    let limit_input = data.len().max(LIMITS.decompressed_bytes_max);
    common::assert_bounded("batch decode", usage, limit_input, 64, 64 << 10);
    let Ok(batches) = decoded else { return };
    let stored: Vec<StoredRecord> = batches
        .iter()
        .flat_map(|b| b.records.iter())
        .enumerate()
        .map(|(i, r)| StoredRecord {
            offset: Offset(i as u64),
            timestamp: r.timestamp,
            key: r.key.clone(),
            value: r.value.clone(),
        })
        .collect();
    let mut bytes = Vec::new();
    encode_batches(&stored, &mut bytes).expect("decoded records are valid envelopes");
    let again = decode_batches(&bytes, LIMITS).expect("our own encoding decodes");
    let reread: Vec<_> = again.iter().flat_map(|b| b.records.iter()).collect();
    let original: Vec<_> = batches.iter().flat_map(|b| b.records.iter()).collect();
    assert_eq!(
        reread, original,
        "records must survive encode → decode unchanged"
    );
});
