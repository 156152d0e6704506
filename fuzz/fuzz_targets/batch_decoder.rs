//! Fuzzes the batch decoder with arbitrary bytes. The header and records are decoded
//! *without* the CRC gate (so the fuzzer reaches the record parser), then with it. The
//! decoder must never panic or allocate beyond the bounded batch length; whatever it
//! accepts must survive encode → decode unchanged.
#![no_main]

use exactly_log::batch::{check_batch, decode_header, decode_records, EncodedBatch, Record};
use libfuzzer_sys::fuzz_target;

const BATCH_BYTES_MAX: u32 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let _ = check_batch(data, BATCH_BYTES_MAX);
    let Ok(header) = decode_header(data, BATCH_BYTES_MAX) else {
        return;
    };
    if data.len() < header.batch_len as usize {
        return;
    }
    let mut records = Vec::new();
    if decode_records(&header, data, &mut records).is_err() {
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
    let Ok(mut again) = EncodedBatch::encode(&input, header.producer, header.attributes, BATCH_BYTES_MAX) else {
        return; // canonical encoding can only be shorter, but the record count may overflow
    };
    let bytes = again.seal(header.base_offset).to_vec();
    let reread = check_batch(&bytes, BATCH_BYTES_MAX).expect("our own encoding checks");
    let mut round_trip = Vec::new();
    decode_records(&reread, &bytes, &mut round_trip).expect("our own encoding decodes");
    assert_eq!(round_trip, records);
});
