//! The checkpoint file's framing: a written checkpoint loads back; a file of the older
//! layout (version 1) still loads; any flipped byte makes the file damaged (skipped by
//! `latest`) or, in the version field, of an unsupported version (refused) — never a
//! checkpoint; a whole file of an unknown version is refused, not skipped.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use exactly_core::{SimStorage, Storage, Timestamp};
use exactly_state::{Checkpoint, CheckpointError, CheckpointStore};
use std::path::Path;
use std::sync::Arc;

fn sample(id: u64) -> Checkpoint {
    let mut checkpoint = Checkpoint {
        id,
        clock: Timestamp(77),
        ..Checkpoint::default()
    };
    checkpoint.positions.insert("t/0".into(), 12);
    checkpoint.states.insert("task".into(), vec![1, 2, 3]);
    checkpoint
}

fn path(id: u64) -> String {
    format!("/c/checkpoint-{id:020}.ckpt")
}

#[test]
fn current_and_legacy_files_load_and_every_damage_is_caught() {
    let storage = SimStorage::new(1);
    let store = CheckpointStore::open(Arc::new(storage.clone()), "/c", 10).unwrap();
    store.write(&sample(1)).unwrap();
    assert_eq!(store.load(1).unwrap(), sample(1));

    // Version 1: magic | u32 1 | crc32c(body) | body.
    let body = postcard::to_allocvec(&sample(2)).unwrap();
    let mut legacy = b"EXCK".to_vec();
    legacy.extend_from_slice(&1u32.to_le_bytes());
    legacy.extend_from_slice(&crc32c::crc32c(&body).to_le_bytes());
    legacy.extend_from_slice(&body);
    let file = storage
        .open(Path::new(&path(2)), exactly_core::OpenMode::CreateNew)
        .unwrap();
    file.write_at(0, &legacy).unwrap();
    file.sync_data().unwrap();
    assert_eq!(store.load(2).unwrap(), sample(2));
    assert_eq!(store.latest().unwrap().checkpoint, Some(sample(2)));

    let clean = storage.live_bytes(Path::new(&path(1))).unwrap();
    for i in 0..clean.len() {
        let mut damaged = clean.clone();
        damaged[i] ^= 0x20;
        storage
            .overwrite_bytes(Path::new(&path(1)), damaged)
            .unwrap();
        match store.load(1) {
            Err(CheckpointError::Damaged { .. }) => {}
            Err(CheckpointError::UnsupportedVersion { .. }) if (4..8).contains(&i) => {}
            other => panic!("flip in byte {i}: {other:?}"),
        }
    }
    storage
        .overwrite_bytes(Path::new(&path(1)), clean[..clean.len() - 1].to_vec())
        .unwrap();
    assert!(matches!(
        store.load(1),
        Err(CheckpointError::Damaged { .. })
    ));
}

#[test]
fn an_unknown_version_is_refused_not_skipped() {
    let storage = SimStorage::new(2);
    let store = CheckpointStore::open(Arc::new(storage.clone()), "/c", 10).unwrap();
    store.write(&sample(1)).unwrap();
    let frame = exactly_core::framing::encode(
        &exactly_core::framing::FrameKind {
            magic: *b"EXCK",
            version: 3,
            body_bytes_max: u32::MAX,
        },
        &postcard::to_allocvec(&sample(2)).unwrap(),
    )
    .unwrap();
    storage.create_dir_all(Path::new("/c")).unwrap();
    let file = storage
        .open(Path::new(&path(2)), exactly_core::OpenMode::CreateNew)
        .unwrap();
    file.write_at(0, &frame).unwrap();
    assert!(matches!(
        store.latest(),
        Err(CheckpointError::UnsupportedVersion {
            found: 3,
            supported: 2,
            ..
        })
    ));
}
