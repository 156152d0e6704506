//! Fuzzes the engine's manifest as recovery reads it: the input is a checkpoint file
//! (`EXCK` framing, version 2 or the legacy version 1, postcard body) loaded through
//! `CheckpointStore::load` and then decoded by `Manifest::from_checkpoint` (version 3, or
//! version 2 read strictly). A manifest body is also decoded directly (the first byte picks
//! the path), so the fuzzer reaches the typed body without forging a checksum. Nothing may
//! panic, memory must follow the input, and an accepted manifest must survive
//! `to_checkpoint` → `from_checkpoint` unchanged.
#![no_main]

#[path = "common/mod.rs"]
mod common;

use exactly_core::{SimStorage, Storage, Timestamp};
use exactly_engine::runtime::Manifest;
use exactly_state::{Checkpoint, CheckpointStore};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

#[global_allocator]
static ALLOC: common::CountingAlloc = common::CountingAlloc;

/// The checkpoint file id the store looks for (the name must match the body's id).
const ID: u64 = 7;

fn from_file(bytes: &[u8]) -> Option<Checkpoint> {
    let storage: Arc<dyn Storage> = Arc::new(SimStorage::new(1));
    let dir = Path::new("/checkpoints");
    common::put_file(
        storage.as_ref(),
        &dir.join(format!("checkpoint-{ID:020}.ckpt")),
        bytes,
    );
    let store = CheckpointStore::open(storage, dir, 3).expect("simulated store");
    store.load(ID).ok()
}

fn with_body(body: &[u8]) -> Checkpoint {
    // The body names its own id and clock, which must match the container's: a body of
    // checkpoint `ID` at clock 0 (the seed corpus holds one) gets past that check.
    Checkpoint {
        id: ID,
        clock: Timestamp(0),
        positions: BTreeMap::new(),
        states: BTreeMap::from([("manifest".to_string(), body.to_vec())]),
        metadata: BTreeMap::from([("manifest_version".to_string(), "3".to_string())]),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&path, rest)) = data.split_first() else {
        return;
    };
    let (manifest, usage) = common::measure(|| {
        let checkpoint = if path & 1 == 0 {
            from_file(rest)?
        } else {
            with_body(rest)
        };
        Manifest::from_checkpoint(&checkpoint).ok()
    });
    common::assert_bounded("manifest", usage, rest.len(), 64, 256 << 10);
    let Some(manifest) = manifest else { return };
    let checkpoint = manifest
        .to_checkpoint()
        .expect("a decoded manifest encodes");
    let again = Manifest::from_checkpoint(&checkpoint).expect("our own encoding decodes");
    assert_eq!(
        again, manifest,
        "a manifest must survive encode → decode unchanged"
    );
});
