//! Fuzzes the log's producer-table snapshot (framed JSON, or the legacy `crc32c | JSON`
//! layout) as partition recovery reads it. Decoding must never panic, memory must follow
//! the input, and an accepted snapshot must survive encode → decode unchanged. A second
//! path wraps the input in a valid frame so the fuzzer reaches the JSON without forging a
//! checksum.
#![no_main]

#[path = "common/mod.rs"]
mod common;

use exactly_log::producer::ProducerTable;
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: common::CountingAlloc = common::CountingAlloc;

fuzz_target!(|data: &[u8]| {
    let Some((&path, rest)) = data.split_first() else {
        return;
    };
    let bytes = if path & 1 == 0 {
        rest.to_vec()
    } else {
        // The legacy layout: crc32c of the JSON, then the JSON.
        let mut framed = crc32c::crc32c(rest).to_le_bytes().to_vec();
        framed.extend_from_slice(rest);
        framed
    };
    let (decoded, usage) = common::measure(|| ProducerTable::decode_snapshot(&bytes));
    common::assert_bounded("producer snapshot", usage, bytes.len(), 64, 64 << 10);
    let Some((next_offset, table)) = decoded else {
        return;
    };
    let encoded = table
        .encode_snapshot(next_offset)
        .expect("a decoded table encodes");
    let again = ProducerTable::decode_snapshot(&encoded).expect("our own encoding decodes");
    assert_eq!(
        again,
        (next_offset, table),
        "a snapshot must survive encode → decode"
    );
});
