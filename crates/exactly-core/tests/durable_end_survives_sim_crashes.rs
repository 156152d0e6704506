//! The durable-end evidence on simulated storage: after any crash the claim read back is one
//! that was written (never ahead of the newest claim, never below the newest *synced* one),
//! a torn slot falls back to the other, both slots damaged is a typed error, and creation
//! and `replace` are atomic at every crash point.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use exactly_core::durable_end::{self, DurableEndError, DurableEndWriter, Evidence};
use exactly_core::{SimStorage, Storage, TearMode};
use std::path::Path;

const MAGIC: [u8; 4] = *b"EXTD";
const PATH: &str = "/d/durable-end";

fn load(storage: &SimStorage) -> Option<[u64; 2]> {
    durable_end::load::<2>(storage, Path::new(PATH), MAGIC)
        .unwrap()
        .map(|e| e.claim)
}

fn fresh(seed: u64) -> SimStorage {
    let storage = SimStorage::new(seed);
    storage.create_dir_all(Path::new("/d")).unwrap();
    storage
}

#[test]
fn a_crash_loses_at_most_the_unsynced_claims() {
    for seed in 0..20u64 {
        let storage = fresh(seed);
        let sync_every = 1 + (seed % 5) as u32;
        let mut writer =
            DurableEndWriter::<2>::create(&storage, Path::new(PATH), MAGIC, [1, 0], sync_every)
                .unwrap();
        let mut synced = 0u64;
        let writes = 3 + seed * 3;
        for n in 1..=writes {
            writer.record([1, n * 10]).unwrap();
            if !writer.has_unsynced() {
                synced = n * 10;
            }
        }
        storage.crash(TearMode::KeepPrefix);
        let [generation, length] = load(&storage).unwrap();
        assert_eq!(generation, 1);
        assert!(
            synced <= length && length <= writes * 10,
            "seed {seed}: read {length}, synced {synced}, newest {}",
            writes * 10
        );
        assert_eq!(length % 10, 0, "a claim that was written");
    }
}

#[test]
fn sync_makes_the_newest_claim_survive() {
    let storage = fresh(1);
    let mut writer =
        DurableEndWriter::<2>::create(&storage, Path::new(PATH), MAGIC, [0, 0], 64).unwrap();
    writer.record([0, 5]).unwrap();
    writer.record([0, 9]).unwrap();
    writer.sync().unwrap();
    storage.crash(TearMode::DropUnsynced);
    assert_eq!(load(&storage), Some([0, 9]));
}

#[test]
fn a_torn_slot_falls_back_and_two_damaged_slots_are_refused() {
    let storage = fresh(2);
    let path = Path::new(PATH);
    let mut writer = DurableEndWriter::<2>::create(&storage, path, MAGIC, [3, 10], 64).unwrap();
    writer.record_synced([3, 20]).unwrap(); // counter 2: slot 0
    writer.record_synced([3, 30]).unwrap(); // counter 3: slot 1
    assert_eq!(load(&storage), Some([3, 30]));
    let clean = storage.live_bytes(path).unwrap();
    // A torn write of the newest slot (its second half never reached the disk).
    let mut bytes = clean.clone();
    let slot1 = durable_end::SLOT_STRIDE_BYTES as usize;
    let slot_len = durable_end::slot_bytes(2);
    for b in &mut bytes[slot1 + slot_len / 2..slot1 + slot_len] {
        *b = 0;
    }
    storage.overwrite_bytes(path, bytes.clone()).unwrap();
    assert_eq!(load(&storage), Some([3, 20]));
    // Both slots damaged: damage, never "no claim".
    bytes[3] ^= 0x01;
    storage.overwrite_bytes(path, bytes).unwrap();
    match durable_end::load::<2>(&storage, path, MAGIC) {
        Err(DurableEndError::Damaged { path: p, reason }) => {
            assert_eq!(p, path);
            assert!(
                reason.contains("slot 0") && reason.contains("slot 1"),
                "{reason}"
            );
        }
        other => panic!("expected Damaged, got {other:?}"),
    }
    // Every single-bit flip of one slot leaves the other slot's claim readable.
    for bit in 0..slot_len * 8 {
        let mut bytes = clean.clone();
        bytes[slot1 + bit / 8] ^= 1 << (bit % 8);
        storage.overwrite_bytes(path, bytes).unwrap();
        assert_eq!(load(&storage), Some([3, 20]), "bit {bit}");
    }
    // A missing file is no claim.
    storage.remove_file(path).unwrap();
    assert_eq!(load(&storage), None);
}

#[test]
fn create_and_replace_are_atomic_at_every_crash_point() {
    // Count the mutations of the whole scenario on a fork, then crash after each of them.
    let scenario = |storage: &SimStorage| -> Result<(), DurableEndError> {
        let path = Path::new(PATH);
        let mut writer = DurableEndWriter::<2>::create(storage, path, MAGIC, [1, 100], 8)?;
        writer.record_synced([1, 200])?;
        writer.replace(storage, [2, 0])?; // the claim moves down: atomically
        writer.record_synced([2, 50])?;
        Ok(())
    };
    let probe = fresh(3);
    let start = probe.mutation_count();
    scenario(&probe).unwrap();
    let total = probe.mutation_count() - start;
    for crash_after in 0..=total {
        let storage = fresh(3);
        storage.crash_after_mutations(storage.mutation_count() + crash_after);
        let _ = scenario(&storage);
        storage.crash(TearMode::PrefixThenGarbage);
        let claim = load(&storage);
        assert!(
            [
                None,
                Some([1, 100]),
                Some([1, 200]),
                Some([2, 0]),
                Some([2, 50])
            ]
            .contains(&claim),
            "crash after {crash_after} mutations: {claim:?}"
        );
    }
}

#[test]
fn reopening_continues_the_counter() {
    let storage = fresh(4);
    let path = Path::new(PATH);
    let mut writer = DurableEndWriter::<2>::create(&storage, path, MAGIC, [0, 1], 64).unwrap();
    writer.record_synced([0, 2]).unwrap();
    drop(writer);
    let newest: Evidence<2> = durable_end::load(&storage, path, MAGIC).unwrap().unwrap();
    assert_eq!(newest.claim, [0, 2]);
    let mut writer = DurableEndWriter::open(&storage, path, MAGIC, newest, 64).unwrap();
    writer.record_synced([0, 3]).unwrap();
    // The older slot was overwritten, the newer one (claim 2) kept.
    assert_eq!(load(&storage), Some([0, 3]));
    let bytes = storage.live_bytes(path).unwrap();
    assert_eq!(bytes.len(), durable_end::file_bytes(2));
}
