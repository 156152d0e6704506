//! Recovery of a torn tail, exhaustively: for **every** byte offset `c` in the last 64 KiB
//! of the last segment and for each of four tears — plain truncation at `c`; truncation
//! with the rest of the original length filled with zeros, with `0xFF`, with random bytes —
//! reopening the log must keep exactly the batches wholly before `c` (values and offsets),
//! report the truncation in `recovery_events()` whenever bytes after the last whole batch
//! were removed, forget the producer sequences of the cut batches (a retry of the first cut
//! batch is appended again, not answered as a duplicate) and append at the next offset.
//!
//! Every cut offset is checked with plain truncation; every other one also with one fill
//! (zeros, `0xFF` and random bytes in rotation: `c % 6` = 0, 2, 4); the cuts in the last
//! 4 KiB get all three fills. So ≈ 65 536 + 32 768 + 8 192 cases. (All 4 × 65 536 took
//! ≈ 42 s on the shared 2-core machine, above the time budget; run with
//! `EXACTLY_TORN_ALL=1` to check every fill at every offset.)
//! A torn write is never of data the log knows was durable: before each case the
//! partition's durable-end evidence is reset to what it said when the last segment held its
//! first batch (as after an OS crash that kept the data but not the newest evidence), so the
//! torn bytes all lie beyond the evidence. (Damage below the evidence is refused, see
//! `regression_log_durable_tail_damage_refused.rs`.)
//! To stay fast the log is built once per worker thread on `SimStorage`, and each case only
//! overwrites the last segment's bytes and reopens; the sealed segment is compared in full
//! every 509th case (its bytes are never touched, and its end offset is checked every time).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use common::*;
use exactly_core::{ManualClock, Offset, SimStorage, Timestamp};
use exactly_log::batch::check_batch;
use exactly_log::{AppendOutcome, LogConfig, Record, StoredRecord};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::path::PathBuf;

const TOPIC: &str = "torn";
const WINDOW: usize = 64 * 1024;
const PRODUCER: u64 = 7;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes_max: 80 * 1024,
        batch_bytes_max: 4096,
        index_interval_bytes: 1024,
        ..LogConfig::default()
    }
}

/// What the prepared log looks like.
struct Prepared {
    storage: SimStorage,
    clock: ManualClock,
    /// Path and original bytes of the last segment.
    last_path: PathBuf,
    last_bytes: Vec<u8>,
    /// Base offset of the last segment.
    last_base: u64,
    /// The durable-end evidence file as it was when the last segment held one batch.
    early_evidence: Vec<u8>,
    /// Per batch of the last segment: start position, end position, base offset, base
    /// sequence, records.
    batches: Vec<(usize, usize, u64, u64, Vec<Record>)>,
    /// All records of the sealed segment.
    sealed: Vec<StoredRecord>,
    /// All records of the last segment, as read back.
    last_records: Vec<StoredRecord>,
}

/// Builds the log: one sealed segment, then a last segment of more than 64 KiB of small
/// idempotent batches. Deterministic in `seed`.
fn prepare(seed: u64) -> Prepared {
    let mut rng = SmallRng::seed_from_u64(seed);
    let storage = SimStorage::new(seed);
    let clock = ManualClock::new(0);
    let log = open_sim(&storage, &clock, config()).unwrap();
    log.create_topic(TOPIC, 1).unwrap();
    let mut all: Vec<(u64, u64, Vec<Record>)> = Vec::new();
    let mut seq = 0u64;
    let mut ts = 0i64;
    let evidence_path = partition_dir(TOPIC, 0).join(exactly_log::durable_end::DURABLE_END_FILE);
    let mut early_evidence = None;
    loop {
        let segs = files_with_ext(&storage, &partition_dir(TOPIC, 0), "log");
        let last_name = segs.last().unwrap().clone();
        let last_len = storage
            .live_bytes(&partition_dir(TOPIC, 0).join(&last_name))
            .unwrap()
            .len();
        if segs.len() == 2 && early_evidence.is_none() {
            early_evidence = Some(storage.live_bytes(&evidence_path).unwrap());
        }
        if segs.len() == 2 && last_len > WINDOW + 2048 {
            break;
        }
        // Mostly one record per batch (small batches), some with two.
        let count = if rng.random_bool(0.8) { 1 } else { 2u64 };
        let records: Vec<Record> = (0..count)
            .map(|_| {
                ts += rng.random_range(-5..20);
                let key = rng
                    .random_bool(0.5)
                    .then(|| vec![b'k', rng.random_range(b'a'..=b'z')]);
                // Values are never empty and never contain 0x00 or 0xFF, so a zero or 0xFF
                // fill always changes the last byte of a cut batch.
                let len = rng.random_range(8..=48);
                let value: Vec<u8> = (0..len).map(|_| rng.random_range(b'!'..=b'~')).collect();
                rec(ts, key.as_deref(), &value)
            })
            .collect();
        let outcome = log
            .append(TOPIC, 0, &records, Some(stamp(PRODUCER, 0, seq)))
            .unwrap();
        let AppendOutcome::Appended { base_offset, .. } = outcome else {
            panic!("fresh batch not appended: {outcome:?}");
        };
        all.push((base_offset.0, seq, records));
        seq += count;
    }
    assert_eq!(log.partition_info(TOPIC, 0).unwrap().segments, 2);
    drop(log);
    let segs = files_with_ext(&storage, &partition_dir(TOPIC, 0), "log");
    let last_base = base_of(&segs[1]);
    let last_path = partition_dir(TOPIC, 0).join(&segs[1]);
    let last_bytes = storage.live_bytes(&last_path).unwrap();
    // Walk the batches of the last segment and match them with what was appended.
    let mut batches = Vec::new();
    let mut position = 0;
    let mut appended = all.iter().filter(|b| b.0 >= last_base);
    while position < last_bytes.len() {
        let header = check_batch(&last_bytes[position..], config().batch_bytes_max).unwrap();
        let end = position + header.batch_len as usize;
        let (base, seq, records) = appended.next().unwrap();
        assert_eq!(header.base_offset, Offset(*base));
        batches.push((position, end, *base, *seq, records.clone()));
        position = end;
    }
    assert!(appended.next().is_none());
    let sealed: Vec<StoredRecord> = all
        .iter()
        .filter(|b| b.0 < last_base)
        .flat_map(|(base, _, records)| {
            records
                .iter()
                .enumerate()
                .map(move |(i, r)| stored(base + i as u64, r))
        })
        .collect();
    assert_eq!(sealed.len() as u64, last_base);
    let last_records = batches
        .iter()
        .flat_map(|(_, _, base, _, records)| {
            records
                .iter()
                .enumerate()
                .map(move |(i, r)| stored(base + i as u64, r))
        })
        .collect();
    Prepared {
        storage,
        clock,
        last_path,
        last_bytes,
        last_base,
        early_evidence: early_evidence.unwrap(),
        batches,
        sealed,
        last_records,
    }
}

#[derive(Clone, Copy, Debug)]
enum Tear {
    Truncate,
    Zeros,
    Ones,
    Random,
}

/// Runs one case: tear the last segment at `cut`, reopen, check.
fn run_case(p: &Prepared, cut: usize, tear: Tear, random: &[u8], case_no: usize) {
    let len = p.last_bytes.len();
    let mut bytes = p.last_bytes[..cut].to_vec();
    // Batches wholly before the cut.
    let whole = p.batches.partition_point(|b| b.1 <= cut);
    let keep_end = p.batches.get(whole.wrapping_sub(1)).map_or(0, |b| b.1);
    match tear {
        Tear::Truncate => {}
        Tear::Zeros => bytes.resize(len, 0),
        Tear::Ones => bytes.resize(len, 0xFF),
        Tear::Random => {
            bytes.extend_from_slice(&random[..len - cut]);
            // Make sure the fill really differs from the original bytes of the cut batch
            // (otherwise the batch is legitimately intact).
            if let Some(b) = p.batches.get(whole) {
                if b.0 < cut && bytes[cut..b.1] == p.last_bytes[cut..b.1] {
                    bytes[b.1 - 1] ^= 0x01;
                }
            }
        }
    }
    let torn_len = bytes.len();
    p.storage.overwrite_bytes(&p.last_path, bytes).unwrap();
    let evidence_path = partition_dir(TOPIC, 0).join(exactly_log::durable_end::DURABLE_END_FILE);
    p.storage
        .overwrite_bytes(&evidence_path, p.early_evidence.clone())
        .unwrap();
    let ctx = format!("cut at {cut} ({tear:?}), last whole batch ends at {keep_end}");

    let log = open_sim(&p.storage, &p.clock, config())
        .unwrap_or_else(|e| panic!("{ctx}: open failed: {e}"));
    let events = log.recovery_events();
    if torn_len > keep_end {
        assert_eq!(events.len(), 1, "{ctx}: {events:?}");
        assert_eq!(events[0].file, p.last_path, "{ctx}");
        assert_eq!(events[0].truncated_at, keep_end as u64, "{ctx}");
        assert_eq!(
            events[0].bytes_removed,
            (torn_len - keep_end) as u64,
            "{ctx}"
        );
    } else {
        assert!(events.is_empty(), "{ctx}: {events:?}");
    }
    let next = p.batches.get(whole).map_or_else(
        || {
            p.batches
                .last()
                .map_or(p.last_base, |b| b.2 + b.4.len() as u64)
        },
        |b| b.2,
    );
    let info = log.partition_info(TOPIC, 0).unwrap();
    assert_eq!(
        (info.start_offset, info.end_offset, info.segments),
        (Offset(0), Offset(next), 2),
        "{ctx}"
    );
    // Records of the last segment: exactly the whole batches before the cut.
    let expected = &p.last_records[..(next - p.last_base) as usize];
    let got = log
        .read(TOPIC, 0, Offset(p.last_base), usize::MAX)
        .unwrap_or_else(|e| panic!("{ctx}: read failed: {e}"));
    assert!(got == expected, "{ctx}: records differ");
    if case_no.is_multiple_of(509) {
        assert!(
            read_all(&log, TOPIC, 0)[..p.sealed.len()] == p.sealed[..],
            "{ctx}"
        );
    }
    // The producer forgot the cut batches: re-sending the first one appends it again.
    let (seq, records) = match p.batches.get(whole) {
        Some((_, _, _, seq, records)) => (*seq, records.clone()),
        None => {
            let last = p.batches.last().unwrap();
            (last.3 + last.4.len() as u64, vec![rec(1, None, b"new")])
        }
    };
    let outcome = log
        .append(TOPIC, 0, &records, Some(stamp(PRODUCER, 0, seq)))
        .unwrap_or_else(|e| panic!("{ctx}: append failed: {e}"));
    let last_offset = Offset(next + records.len() as u64 - 1);
    assert_eq!(
        outcome,
        AppendOutcome::Appended {
            base_offset: Offset(next),
            last_offset
        },
        "{ctx}"
    );
    let back = log.read(TOPIC, 0, Offset(next), usize::MAX).unwrap();
    let want: Vec<StoredRecord> = records
        .iter()
        .enumerate()
        .map(|(i, r)| stored(next + i as u64, r))
        .collect();
    assert_eq!(back, want, "{ctx}");
    assert_eq!(
        log.offset_for_time(TOPIC, 0, Timestamp(i64::MIN)).unwrap(),
        Some(Offset(0)),
        "{ctx}"
    );
}

#[test]
fn every_tear_of_the_last_64_kib_recovers_the_whole_batches_before_it() {
    let seed = seeds(0x7e4).first().copied().unwrap();
    with_seed(seed, |seed| {
        let threads = 2;
        let all_fills = std::env::var("EXACTLY_TORN_ALL").is_ok_and(|v| v == "1");
        let started = std::time::Instant::now();
        std::thread::scope(|scope| {
            for t in 0..threads {
                scope.spawn(move || {
                    let p = prepare(seed);
                    let len = p.last_bytes.len();
                    assert!(len > WINDOW, "last segment is {len} bytes");
                    let mut rng = SmallRng::seed_from_u64(seed ^ 0x5eed ^ t as u64);
                    let random: Vec<u8> = (0..WINDOW).map(|_| rng.random()).collect();
                    let fills = [Tear::Zeros, Tear::Ones, Tear::Random];
                    for (case_no, cut) in (len - WINDOW..len).enumerate() {
                        if case_no % threads != t {
                            continue;
                        }
                        run_case(&p, cut, Tear::Truncate, &random, case_no);
                        for (i, tear) in fills.iter().enumerate() {
                            if all_fills || cut + 4096 >= len || cut % 6 == 2 * i {
                                run_case(&p, cut, *tear, &random, case_no);
                            }
                        }
                    }
                });
            }
        });
        eprintln!(
            "every cut of the last {WINDOW} bytes checked in {:?}",
            started.elapsed()
        );
    });
}
