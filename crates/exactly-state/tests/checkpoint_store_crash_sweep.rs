//! The checkpoint store at every crash point of a write on simulated storage: the newest
//! checkpoint found after the crash is the new one if its write returned `Ok`, else the new
//! or the previous one — never a damaged or partial one. Also: the newest K are kept, and a
//! damaged newest file is skipped and reported, not trusted.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use exactly_core::{SimStorage, Storage, TearMode, Timestamp};
use exactly_state::{Checkpoint, CheckpointStore};
use std::path::Path;
use std::sync::Arc;

fn checkpoint(id: u64) -> Checkpoint {
    let mut c = Checkpoint {
        id,
        clock: Timestamp(id as i64 * 1000),
        ..Checkpoint::default()
    };
    c.positions.insert("transfers/0".into(), id * 10);
    c.states.insert("balances/0".into(), vec![id as u8; 300]);
    c
}

#[test]
fn every_crash_point_leaves_the_old_or_the_new_checkpoint() {
    let tears = [
        TearMode::DropUnsynced,
        TearMode::KeepPrefix,
        TearMode::PrefixThenGarbage,
        TearMode::PrefixThenZeros,
    ];
    let reference = SimStorage::new(0);
    let store = CheckpointStore::open(Arc::new(reference.clone()), "/ckpt", 2).unwrap();
    store.write(&checkpoint(1)).unwrap();
    let before = reference.mutation_count();
    store.write(&checkpoint(2)).unwrap();
    let ops = reference.mutation_count() - before;
    for crash_at in 0..=ops {
        for tear in tears {
            let storage = SimStorage::new(crash_at);
            let store = CheckpointStore::open(Arc::new(storage.clone()), "/ckpt", 2).unwrap();
            store.write(&checkpoint(1)).unwrap();
            storage.crash_after_mutations(crash_at);
            let result = store.write(&checkpoint(2));
            storage.crash(tear);
            let store = CheckpointStore::open(Arc::new(storage.clone()), "/ckpt", 2).unwrap();
            let restored = store.latest().unwrap();
            let found = restored.checkpoint.expect("a checkpoint survives");
            assert!(
                found == checkpoint(1) || found == checkpoint(2),
                "crash at {crash_at}: {found:?}"
            );
            if result.is_ok() {
                assert_eq!(
                    found,
                    checkpoint(2),
                    "acknowledged checkpoint lost at {crash_at} ({tear:?})"
                );
            }
        }
    }
}

#[test]
fn keeps_the_newest_k_and_skips_a_damaged_newest() {
    let storage = SimStorage::new(1);
    let store = CheckpointStore::open(Arc::new(storage.clone()), "/ckpt", 2).unwrap();
    for id in 1..=4 {
        store.write(&checkpoint(id)).unwrap();
    }
    let names = storage.list_dir(Path::new("/ckpt")).unwrap();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(store.write(&checkpoint(3)).is_err(), "ids must increase");
    let newest = Path::new("/ckpt/checkpoint-00000000000000000004.ckpt");
    let mut bytes = storage.live_bytes(newest).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    storage.overwrite_bytes(newest, bytes).unwrap();
    let restored = store.latest().unwrap();
    assert_eq!(restored.checkpoint, Some(checkpoint(3)));
    assert_eq!(restored.skipped.len(), 1, "the damaged newest is reported");
}
