//! Fuzzes the batch decoder with arbitrary bytes. The header and records are decoded
//! *without* the CRC gate (so the fuzzer reaches the record parser), then with it. The
//! decoder must never panic or allocate beyond the bounded batch length; whatever it
//! accepts must survive encode → decode unchanged.
#![no_main]

use exactly_log::batch::{check_batch, decode_header, decode_records, EncodedBatch, Record};
use libfuzzer_sys::fuzz_target;

#[path = "common/mod.rs"]
mod common;

#[global_allocator]
static ALLOC: common::CountingAlloc = common::CountingAlloc;

const BATCH_BYTES_MAX: u32 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let (_, usage) = common::measure(|| check_batch(data, BATCH_BYTES_MAX).is_ok());
    assert_eq!(
        usage.allocations, 0,
        "the batch check must not allocate: {usage:?}"
    );
    let Ok(header) = decode_header(data, BATCH_BYTES_MAX) else {
        return;
    };
    if data.len() < header.batch_len as usize {
        return;
    }
    let mut records = Vec::new();
    let (decoded, usage) = common::measure(|| decode_records(&header, data, &mut records));
    // Records own copies of keys and values: memory follows the batch, whatever its
    // record count claims.
    common::assert_bounded("record decode", usage, data.len(), 16, 16 << 10);
    if decoded.is_err() {
        return;
    }
    assert_eq!(records.len() as u32, header.record_count);
    let input: Vec<Record> = records
        .iter()
        .map(|r| Record {
            timestamp: r.timestamp,
            key: r.key.clone(),
            value: r.value.clone(),
        })
        .collect();
    let Ok(mut again) =
        EncodedBatch::encode(&input, header.producer, header.attributes, BATCH_BYTES_MAX)
    else {
        return; // canonical encoding can only be shorter, but the record count may overflow
    };
    let bytes = again.seal(header.base_offset).to_vec();
    let reread = check_batch(&bytes, BATCH_BYTES_MAX).expect("our own encoding checks");
    let mut round_trip = Vec::new();
    decode_records(&reread, &bytes, &mut round_trip).expect("our own encoding decodes");
    assert_eq!(round_trip, records);
});
