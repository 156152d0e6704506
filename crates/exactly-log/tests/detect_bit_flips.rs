//! Bit flips never turn into wrong data.
//!
//! 1. Every single-bit flip in the last 4 KiB of the last segment is reported as damage by
//!    `verify_log`; opening then refuses: with `OpenError::DurableDataLost` naming the
//!    batch's offsets when it is the last batch (the log was closed cleanly, so the
//!    durable-end evidence says it was durable: it is not a torn write — this used to be
//!    cut silently), or with `OpenError::Corrupt` at that batch when valid batches follow.
//! 2. 1 000 random single-bit flips in sealed segments: `verify_log` reports `Corrupt` for
//!    that segment, the log still opens (sealed segments are checked when read), reading the
//!    affected batch returns `ReadError::Corrupt`, and no read from any offset of that
//!    segment returns a record different from the original.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use common::*;
use exactly_core::{ManualClock, Offset, SimStorage};
use exactly_log::batch::check_batch;
use exactly_log::verify::{verify_log, Finding};
use exactly_log::{LogConfig, OpenError, ReadError, StoredRecord};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};

const TOPIC: &str = "flips";

fn config() -> LogConfig {
    LogConfig {
        segment_bytes_max: 12 * 1024,
        batch_bytes_max: 2048,
        index_interval_bytes: 512,
        ..LogConfig::default()
    }
}

struct Segment {
    path: PathBuf,
    bytes: Vec<u8>,
    /// (start, end, base offset, record count) of each batch.
    batches: Vec<(usize, usize, u64, u64)>,
}

struct Prepared {
    storage: SimStorage,
    clock: ManualClock,
    segments: Vec<Segment>,
    records: Vec<StoredRecord>,
}

fn prepare(seed: u64) -> Prepared {
    let mut rng = SmallRng::seed_from_u64(seed);
    let storage = SimStorage::new(seed);
    let clock = ManualClock::new(0);
    let log = open_sim(&storage, &clock, config()).unwrap();
    log.create_topic(TOPIC, 1).unwrap();
    let mut seq = 0;
    let dir = partition_dir(TOPIC, 0);
    loop {
        let segs = files_with_ext(&storage, &dir, "log");
        let last_len = storage
            .live_bytes(&dir.join(segs.last().unwrap()))
            .unwrap()
            .len();
        if segs.len() >= 4 && last_len > 6 * 1024 {
            break;
        }
        let count = rng.random_range(1..=4u64);
        let records: Vec<_> = (0..count)
            .map(|i| {
                let value: Vec<u8> = (0..rng.random_range(1..60)).map(|_| rng.random()).collect();
                rec(i as i64 * 3, Some(b"key"), &value)
            })
            .collect();
        // Half idempotent, half plain.
        let producer = rng.random_bool(0.5).then(|| stamp(1, 0, seq));
        if producer.is_some() {
            seq += count;
        }
        log.append(TOPIC, 0, &records, producer).unwrap();
    }
    let records = read_all(&log, TOPIC, 0);
    log.close().unwrap();
    let segments = files_with_ext(&storage, &dir, "log")
        .into_iter()
        .map(|name| {
            let path = dir.join(&name);
            let bytes = storage.live_bytes(&path).unwrap();
            let mut batches = Vec::new();
            let mut at = 0;
            while at < bytes.len() {
                let h = check_batch(&bytes[at..], config().batch_bytes_max).unwrap();
                let end = at + h.batch_len as usize;
                batches.push((at, end, h.base_offset.0, u64::from(h.record_count)));
                at = end;
            }
            Segment {
                path,
                bytes,
                batches,
            }
        })
        .collect();
    Prepared {
        storage,
        clock,
        segments,
        records,
    }
}

fn flipped(bytes: &[u8], bit: usize) -> Vec<u8> {
    let mut damaged = bytes.to_vec();
    damaged[bit / 8] ^= 1 << (bit % 8);
    damaged
}

/// Damage findings of `verify_log`; the first must be in `file`. A damaged sealed segment
/// may also make the next segment look discontinuous (a knock-on finding at its byte 0).
fn damage_findings(p: &Prepared, file: &Path) -> Vec<Finding> {
    let findings: Vec<Finding> = verify_log(&p.storage, Path::new(LOG_DIR), &config())
        .findings
        .into_iter()
        .filter(|f| f.is_damage())
        .collect();
    for (i, f) in findings.iter().enumerate() {
        match f {
            Finding::Corrupt { file: at, .. }
            | Finding::TornTail { file: at, .. }
            | Finding::DurableDataLost { file: at, .. }
                if i == 0 =>
            {
                assert_eq!(
                    at, file,
                    "damage reported in the flipped file: {findings:?}"
                )
            }
            Finding::Corrupt {
                file: at, position, ..
            } if at > file && *position == 0 => {}
            other => panic!("unexpected finding {other:?} in {findings:?}"),
        }
    }
    findings
}

#[test]
fn every_bit_flip_in_the_last_4_kib_is_detected_and_never_read() {
    let seed = seeds(0xb17).first().copied().unwrap();
    with_seed(seed, |seed| {
        std::thread::scope(|scope| {
            for t in 0..2usize {
                scope.spawn(move || {
                    let p = prepare(seed);
                    let last = p.segments.last().unwrap();
                    let len = last.bytes.len();
                    for byte in len - 4096..len {
                        if byte % 2 != t {
                            continue;
                        }
                        for bit in byte * 8..byte * 8 + 8 {
                            check_last_segment_flip(&p, bit);
                        }
                    }
                    // Restore for good measure: the original opens cleanly.
                    p.storage
                        .overwrite_bytes(&last.path, last.bytes.clone())
                        .unwrap();
                    let log = open_sim(&p.storage, &p.clock, config()).unwrap();
                    assert_eq!(read_all(&log, TOPIC, 0), p.records);
                });
            }
        });
    });
}

fn check_last_segment_flip(p: &Prepared, bit: usize) {
    let last = p.segments.last().unwrap();
    p.storage
        .overwrite_bytes(&last.path, flipped(&last.bytes, bit))
        .unwrap();
    let ctx = format!("flip of bit {bit} (byte {}) of the last segment", bit / 8);
    let k = last.batches.partition_point(|b| b.1 <= bit / 8);
    let (start, _, base, count) = last.batches[k];
    let findings = damage_findings(p, &last.path);
    assert_eq!(findings.len(), 1, "{ctx}: {findings:?}");
    let is_last_batch = k + 1 == last.batches.len();
    match &findings[0] {
        Finding::DurableDataLost {
            position,
            first_lost_offset,
            durable_next_offset,
            ..
        } if is_last_batch => assert_eq!(
            (*position, *first_lost_offset, *durable_next_offset),
            (start as u64, Offset(base), Offset(base + count)),
            "{ctx}"
        ),
        Finding::Corrupt { position, .. } if !is_last_batch => {
            assert_eq!(*position, start as u64, "{ctx}")
        }
        other => panic!("{ctx}: batch {k} of {}: {other:?}", last.batches.len()),
    }
    match open_sim(&p.storage, &p.clock, config()) {
        Ok(_) => panic!("{ctx}: opened although durable data is damaged"),
        Err(OpenError::DurableDataLost {
            file,
            position,
            first_lost_offset,
            durable_next_offset,
            ..
        }) => {
            assert!(is_last_batch, "{ctx}: valid batches follow: want Corrupt");
            assert_eq!(
                (
                    file.as_path(),
                    position,
                    first_lost_offset,
                    durable_next_offset
                ),
                (
                    last.path.as_path(),
                    start as u64,
                    Offset(base),
                    Offset(base + count)
                ),
                "{ctx}"
            );
        }
        Err(OpenError::Corrupt { file, position, .. }) => {
            assert!(
                !is_last_batch,
                "{ctx}: the last batch is durable data, not corrupt"
            );
            assert_eq!(
                (file.as_path(), position),
                (last.path.as_path(), start as u64),
                "{ctx}"
            );
        }
        Err(e) => panic!("{ctx}: unexpected open error {e}"),
    }
}

#[test]
fn random_bit_flips_in_sealed_segments_are_corrupt_never_wrong_data() {
    for seed in seeds(0x5ea1) {
        with_seed(seed, |seed| {
            let p = prepare(seed);
            let mut rng = SmallRng::seed_from_u64(seed);
            let sealed = &p.segments[..p.segments.len() - 1];
            for flip in 0..1_000 {
                let s = rng.random_range(0..sealed.len());
                let seg = &sealed[s];
                let bit = rng.random_range(0..seg.bytes.len() * 8);
                let ctx = format!(
                    "flip {flip}: bit {bit} (byte {}) of sealed segment {s}",
                    bit / 8
                );
                p.storage
                    .overwrite_bytes(&seg.path, flipped(&seg.bytes, bit))
                    .unwrap();
                let findings = damage_findings(&p, &seg.path);
                assert!(
                    matches!(findings.first(), Some(Finding::Corrupt { .. })),
                    "{ctx}: {findings:?}"
                );
                let log = open_sim(&p.storage, &p.clock, config())
                    .unwrap_or_else(|e| panic!("{ctx}: open failed: {e}"));
                let k = seg.batches.partition_point(|b| b.1 <= bit / 8);
                let (_, _, base, count) = seg.batches[k];
                let affected = log.read(TOPIC, 0, Offset(base), count as usize);
                assert!(
                    matches!(affected, Err(ReadError::Corrupt { ref file, .. }) if *file == seg.path),
                    "{ctx}: reading the affected batch at {base} gave {affected:?}"
                );
                // From every offset of the segment: the original records or Corrupt.
                let seg_base = seg.batches[0].2;
                let seg_end = seg.batches.last().map(|b| b.2 + b.3).unwrap();
                for from in seg_base..seg_end {
                    match log.read(TOPIC, 0, Offset(from), 50) {
                        Ok(got) => {
                            let want = &p.records[from as usize..];
                            assert!(!got.is_empty(), "{ctx}: read from {from} returned nothing");
                            assert!(
                                got[..] == want[..got.len()],
                                "{ctx}: read from {from} returned altered records"
                            );
                            assert!(
                                from >= base + count || from + got.len() as u64 <= base,
                                "{ctx}: read from {from} passed the damaged batch at {base}"
                            );
                        }
                        Err(ReadError::Corrupt { .. }) => {}
                        Err(e) => panic!("{ctx}: read from {from}: {e}"),
                    }
                }
                drop(log);
                p.storage
                    .overwrite_bytes(&seg.path, seg.bytes.clone())
                    .unwrap();
            }
            let log = open_sim(&p.storage, &p.clock, config()).unwrap();
            assert_eq!(read_all(&log, TOPIC, 0), p.records);
        });
    }
}
