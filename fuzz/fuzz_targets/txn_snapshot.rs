//! Fuzzes the transaction coordinator's snapshot (`EXTS` header, CRC32C, JSON) as the
//! coordinator reads it on start. Decoding must never panic, memory must follow the input,
//! and an accepted snapshot must survive encode → decode unchanged. A second path puts a
//! valid header with a correct checksum in front of the input, so the fuzzer reaches the
//! JSON.
#![no_main]

#[path = "common/mod.rs"]
mod common;

use exactly_log::txn::snapshot::{Snapshot, VERSION};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

#[global_allocator]
static ALLOC: common::CountingAlloc = common::CountingAlloc;

fuzz_target!(|data: &[u8]| {
    let Some((&path, rest)) = data.split_first() else {
        return;
    };
    let bytes = if path & 1 == 0 {
        rest.to_vec()
    } else {
        let mut framed = b"EXTS".to_vec();
        framed.extend_from_slice(&VERSION.to_le_bytes());
        framed.extend_from_slice(&(rest.len() as u32).to_le_bytes());
        framed.extend_from_slice(&crc32c::crc32c(rest).to_le_bytes());
        framed.extend_from_slice(rest);
        framed
    };
    let file = Path::new("/log/__txn_snapshot");
    let (decoded, usage) = common::measure(|| Snapshot::decode(&bytes, file));
    common::assert_bounded("txn snapshot", usage, bytes.len(), 64, 64 << 10);
    let Ok(snapshot) = decoded else { return };
    let encoded = snapshot.encode().expect("a decoded snapshot encodes");
    let again = Snapshot::decode(&encoded, file).expect("our own encoding decodes");
    assert_eq!(
        again, snapshot,
        "a snapshot must survive encode → decode unchanged"
    );
});
