//! A partition whose `durable-end` file was written by an older build (two 36-byte slots at
//! bytes 0 and 64, no magic) still opens, and its claim still bounds recovery: a flipped
//! bit in the last acknowledged batch is refused, not cut. Once the partition opens for
//! writing, the file is replaced by the current two-slot layout with the same claim.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use common::*;
use exactly_core::durable_end;
use exactly_core::{ManualClock, Offset, SimStorage};
use exactly_log::batch::check_batch;
use exactly_log::{LogConfig, OpenError};
use std::path::PathBuf;

const TOPIC: &str = "old";
const MAGIC: [u8; 4] = *b"EXDL";

fn evidence_path() -> PathBuf {
    partition_dir(TOPIC, 0).join(exactly_log::durable_end::DURABLE_END_FILE)
}

fn segment() -> PathBuf {
    partition_dir(TOPIC, 0).join(exactly_log::segment_file_name(Offset(0)))
}

/// The older layout: `sequence, segment base, position, next offset (u64 LE) | crc32c`.
fn legacy_slot(sequence: u64, claim: [u64; 3]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in [sequence, claim[0], claim[1], claim[2]] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

#[test]
fn an_older_durable_end_file_still_bounds_recovery_and_is_upgraded() {
    let (storage, clock) = (SimStorage::new(9), ManualClock::new(0));
    let log = open_sim(&storage, &clock, LogConfig::default()).unwrap();
    log.create_topic(TOPIC, 1).unwrap();
    for i in 0..5u8 {
        log.append(TOPIC, 0, &[rec(0, None, &[b'a' + i; 20])], None)
            .unwrap();
    }
    drop(log);
    let claim = durable_end::load::<3>(&storage, &evidence_path(), MAGIC)
        .unwrap()
        .unwrap()
        .claim;
    assert_eq!(
        claim[2], 5,
        "the evidence covers the five acknowledged batches"
    );

    // The same claim in the older layout (slot 1 newer than slot 0).
    let mut legacy = legacy_slot(6, [0, 0, 0]);
    legacy.resize(64, 0);
    legacy.extend_from_slice(&legacy_slot(7, claim));
    storage.overwrite_bytes(&evidence_path(), legacy).unwrap();

    // A flipped bit inside the last acknowledged batch: refused on the older claim.
    let clean = storage.live_bytes(&segment()).unwrap();
    let mut at = 0;
    let mut last = (0, 0);
    while let Ok(h) = check_batch(&clean[at..], 1 << 20) {
        last = (at, at + h.batch_len as usize);
        at = last.1;
    }
    let mut damaged = clean.clone();
    damaged[(last.0 + last.1) / 2] ^= 0x08;
    storage.overwrite_bytes(&segment(), damaged).unwrap();
    match open_sim(&storage, &clock, LogConfig::default()) {
        Err(OpenError::DurableDataLost {
            position,
            first_lost_offset,
            ..
        }) => assert_eq!((position, first_lost_offset), (last.0 as u64, Offset(4))),
        other => panic!("want DurableDataLost, got {other:?}"),
    }

    // Undamaged: opens, reads everything, and the file is now of the current layout.
    storage.overwrite_bytes(&segment(), clean).unwrap();
    let log = open_sim(&storage, &clock, LogConfig::default()).unwrap();
    assert_eq!(read_all(&log, TOPIC, 0).len(), 5);
    drop(log);
    let bytes = storage.live_bytes(&evidence_path()).unwrap();
    assert_eq!(bytes.len(), durable_end::file_bytes(3));
    let upgraded = durable_end::load::<3>(&storage, &evidence_path(), MAGIC)
        .unwrap()
        .unwrap();
    assert_eq!(upgraded.claim, claim);
}
