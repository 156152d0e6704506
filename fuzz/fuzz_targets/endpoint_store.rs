//! Fuzzes the embedded endpoint store's files as `EmbeddedStore::open` reads them after a
//! restart: the snapshot (`snapshot`, framed postcard, or the legacy CRC layout) and the
//! journal of generation 0 (framed postcard commits, or the legacy layout). The input is
//! split into the two files; an empty part means the file is absent. Opening must never
//! panic, must allocate no more than a multiple of the files, and must be idempotent: a
//! store that opened once (its torn tail cut) opens again.
#![no_main]

#[path = "common/mod.rs"]
mod common;

use exactly_core::framing::{self, FrameKind};
use exactly_core::{SimStorage, Storage};
use exactly_endpoint::embedded::{EmbeddedOptions, EmbeddedStore};
use libfuzzer_sys::fuzz_target;
use std::path::Path;
use std::sync::Arc;

#[global_allocator]
static ALLOC: common::CountingAlloc = common::CountingAlloc;

const SNAPSHOT: FrameKind = FrameKind {
    magic: *b"EXES",
    version: 1,
    body_bytes_max: u32::MAX,
};
const JOURNAL: FrameKind = FrameKind {
    magic: *b"EXEJ",
    version: 1,
    body_bytes_max: 256 << 20,
};

/// The two files from the input parts: raw, or (first byte odd) with the first part framed
/// as the snapshot's body and every further part as one journal record's body, so the
/// fuzzer reaches the postcard bodies behind the checksums.
fn files(data: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let Some((&path, rest)) = data.split_first() else {
        return (Vec::new(), Vec::new());
    };
    let parts = common::split(rest);
    let part = |i: usize| parts.get(i).map_or(Vec::new(), |p| p.to_vec());
    if path & 1 == 0 {
        return (part(0), part(1));
    }
    let snapshot = match parts.first() {
        Some(body) if !body.is_empty() => framing::encode(&SNAPSHOT, body).expect("small body"),
        _ => Vec::new(),
    };
    let mut journal = Vec::new();
    for body in parts.iter().skip(1) {
        framing::encode_into(&JOURNAL, body, &mut journal).expect("small body");
    }
    (snapshot, journal)
}

fuzz_target!(|data: &[u8]| {
    let storage: Arc<dyn Storage> = Arc::new(SimStorage::new(1));
    let dir = Path::new("/store");
    storage.create_dir_all(dir).expect("simulated directory");
    let (snapshot, journal) = files(data);
    let mut total = 0;
    for (name, part) in [
        ("snapshot", &snapshot),
        ("journal-00000000000000000000", &journal),
    ] {
        if !part.is_empty() {
            common::put_file(storage.as_ref(), &dir.join(name), part);
            total += part.len();
        }
    }
    let (first, usage) = common::measure(|| {
        EmbeddedStore::open_with(Arc::clone(&storage), dir, EmbeddedOptions::default())
    });
    common::assert_bounded("endpoint store", usage, total, 64, 256 << 10);
    let Ok(first) = first else { return };
    drop(first);
    EmbeddedStore::open_with(Arc::clone(&storage), dir, EmbeddedOptions::default())
        .expect("a store that opened once opens again");
});
