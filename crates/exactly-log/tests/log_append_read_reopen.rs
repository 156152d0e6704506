//! Basic behaviour of the embedded log: append, read by offset and by time, tail following,
//! reopen, retention, index rebuild, and the typed errors for bad input.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use common::*;
use exactly_core::{ManualClock, Offset, SimStorage, Storage, Timestamp};
use exactly_log::verify::{verify_log, Finding};
use exactly_log::{
    AppendError, AppendOutcome, Log, LogConfig, ReadError, Record, StoredRecord, TopicError,
};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const TOPIC: &str = "events";

fn small_config() -> LogConfig {
    LogConfig {
        segment_bytes_max: 4096,
        batch_bytes_max: 2048,
        index_interval_bytes: 256,
        ..LogConfig::default()
    }
}

/// Appends `batches` random batches to every partition; returns the expected records per
/// partition (index = offset).
fn fill(log: &Log, partitions: u32, batches: usize, rng: &mut SmallRng) -> Vec<Vec<Record>> {
    let mut expected = vec![Vec::new(); partitions as usize];
    fill_more(log, &mut expected, batches, rng);
    expected
}

/// Appends `batches` more random batches to every partition of `expected`.
fn fill_more(log: &Log, expected: &mut [Vec<Record>], batches: usize, rng: &mut SmallRng) {
    let partitions = expected.len() as u32;
    for i in 0..batches {
        for p in 0..partitions {
            let count = rng.random_range(1..=5);
            let records: Vec<Record> = (0..count)
                .map(|j| {
                    let key = (rng.random_range(0..3) > 0).then(|| format!("k{}", j % 4));
                    // Non-monotonic event time, with ties.
                    let ts = 1_000 + rng.random_range(0..500i64) + i as i64;
                    let len = rng.random_range(0..40);
                    let value: Vec<u8> = (0..len).map(|_| rng.random_range(b'a'..=b'z')).collect();
                    rec(ts, key.as_deref().map(str::as_bytes), &value)
                })
                .collect();
            let outcome = log.append(TOPIC, p, &records, None).unwrap();
            let exp = &mut expected[p as usize];
            let base = exp.len() as u64;
            assert_eq!(
                outcome,
                AppendOutcome::Appended {
                    base_offset: Offset(base),
                    last_offset: Offset(base + count as u64 - 1),
                }
            );
            exp.extend(records);
        }
    }
}

fn as_stored(records: &[Record], from: u64) -> Vec<StoredRecord> {
    records
        .iter()
        .enumerate()
        .map(|(i, r)| stored(from + i as u64, r))
        .collect()
}

fn brute_force_offset_for_time(records: &[Record], start: u64, target: i64) -> Option<Offset> {
    records
        .iter()
        .enumerate()
        .skip(start as usize)
        .find(|(_, r)| r.timestamp.0 >= target)
        .map(|(i, _)| Offset(i as u64))
}

/// Reads from every offset (so from the middle of batches and across rolls) and checks
/// `offset_for_time` for every interesting target against a brute-force scan.
fn check_contents(log: &Log, expected: &[Vec<Record>]) {
    for (p, exp) in expected.iter().enumerate() {
        let p = p as u32;
        let all = as_stored(exp, 0);
        assert_eq!(read_all(log, TOPIC, p), all, "partition {p}");
        assert_eq!(read_all_chunked(log, TOPIC, p, 3), all, "partition {p}");
        for from in 0..exp.len() {
            let got = log.read(TOPIC, p, Offset(from as u64), 7).unwrap();
            let want = &all[from..(from + 7).min(all.len())];
            assert_eq!(got, want, "partition {p} read from {from}");
        }
        let end = Offset(exp.len() as u64);
        assert!(log.read(TOPIC, p, end, 10).unwrap().is_empty());
        assert!(matches!(
            log.read(TOPIC, p, end.next(), 10),
            Err(ReadError::OffsetOutOfRange { requested, .. }) if requested == end.next()
        ));
        let min = exp.iter().map(|r| r.timestamp.0).min().unwrap();
        let max = exp.iter().map(|r| r.timestamp.0).max().unwrap();
        for target in (min - 2)..=(max + 2) {
            assert_eq!(
                log.offset_for_time(TOPIC, p, Timestamp(target)).unwrap(),
                brute_force_offset_for_time(exp, 0, target),
                "partition {p} offset_for_time({target})"
            );
        }
    }
}

#[test]
fn appends_read_back_by_offset_and_time_and_survive_reopen() {
    for seed in seeds(11) {
        with_seed(seed, |seed| {
            let mut rng = SmallRng::seed_from_u64(seed);
            let storage = SimStorage::new(seed);
            let clock = ManualClock::new(0);
            let log = open_sim(&storage, &clock, small_config()).unwrap();
            log.create_topic(TOPIC, 3).unwrap();
            assert_eq!(log.partition_count(TOPIC), Some(3));
            let expected = fill(&log, 3, 120, &mut rng);
            for p in 0..3 {
                let info = log.partition_info(TOPIC, p).unwrap();
                assert!(info.segments > 3, "small segments roll: {info:?}");
                assert_eq!(info.end_offset, Offset(expected[p as usize].len() as u64));
                assert_eq!(info.start_offset, Offset(0));
            }
            check_contents(&log, &expected);

            // Clean close, reopen: identical data, appends continue at the next offset.
            log.close().unwrap();
            let log = open_sim(&storage, &clock, small_config()).unwrap();
            assert_eq!(log.topics(), vec![(TOPIC.to_string(), 3)]);
            assert!(log.recovery_events().is_empty());
            check_contents(&log, &expected);
            let mut expected = expected;
            fill_more(&log, &mut expected, 10, &mut rng);
            // Drop without close (no snapshot of the end): reopen still identical.
            drop(log);
            let log = open_sim(&storage, &clock, small_config()).unwrap();
            check_contents(&log, &expected);
        });
    }
}

#[test]
fn reopen_on_the_real_file_system_reads_identical_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = SmallRng::seed_from_u64(5);
    let log = Log::open(dir.path(), small_config()).unwrap();
    log.create_topic(TOPIC, 2).unwrap();
    let expected = fill(&log, 2, 60, &mut rng);
    check_contents(&log, &expected);
    drop(log);
    let log = Log::open(dir.path(), small_config()).unwrap();
    check_contents(&log, &expected);
}

#[test]
fn wait_for_follows_the_tail_from_another_thread() {
    let storage = SimStorage::new(1);
    let clock = ManualClock::new(0);
    let log = Arc::new(open_sim(&storage, &clock, small_config()).unwrap());
    log.create_topic(TOPIC, 1).unwrap();
    assert!(!log
        .wait_for(TOPIC, 0, Offset(0), Duration::from_millis(20))
        .unwrap());
    let follower = {
        let log = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            let mut next = Offset(0);
            while seen.len() < 50 {
                assert!(
                    log.wait_for(TOPIC, 0, next, Duration::from_secs(10))
                        .unwrap(),
                    "offset {next} never became visible"
                );
                let got = log.read(TOPIC, 0, next, 100).unwrap();
                assert!(!got.is_empty(), "wait_for said {next} is readable");
                next = got.last().unwrap().offset.next();
                seen.extend(got);
            }
            seen
        })
    };
    let mut expected = Vec::new();
    for i in 0..50i64 {
        let record = rec(i, None, format!("v{i}").as_bytes());
        log.append(TOPIC, 0, std::slice::from_ref(&record), None)
            .unwrap();
        expected.push(stored(i as u64, &record));
        if i % 10 == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    assert_eq!(follower.join().unwrap(), expected);
    assert!(matches!(
        log.wait_for("nope", 0, Offset(0), Duration::from_millis(1)),
        Err(ReadError::UnknownTopic { .. })
    ));
}

/// Segment bases (from file names) of a partition, oldest first.
fn segment_bases(storage: &SimStorage, p: u32) -> Vec<u64> {
    files_with_ext(storage, &partition_dir(TOPIC, p), "log")
        .iter()
        .map(|n| base_of(n))
        .collect()
}

#[test]
fn retention_by_size_deletes_whole_sealed_segments_only() {
    let storage = SimStorage::new(2);
    let clock = ManualClock::new(0);
    let config = LogConfig {
        retention_bytes: Some(3 * 4096),
        ..small_config()
    };
    let log = open_sim(&storage, &clock, config.clone()).unwrap();
    log.create_topic(TOPIC, 1).unwrap();
    let mut rng = SmallRng::seed_from_u64(2);
    let expected = fill(&log, 1, 300, &mut rng);
    log.enforce_retention();
    let info = log.partition_info(TOPIC, 0).unwrap();
    let bases = segment_bases(&storage, 0);
    assert!(info.start_offset > Offset(0), "retention deleted something");
    assert_eq!(
        bases[0], info.start_offset.0,
        "log starts at a segment boundary"
    );
    assert!(info.bytes <= 3 * 4096, "{info:?}");
    assert_eq!(info.end_offset, Offset(expected[0].len() as u64));
    let start = info.start_offset.0;
    assert_eq!(
        read_all(&log, TOPIC, 0),
        as_stored(&expected[0][start as usize..], start),
        "everything from the start on is intact"
    );
    assert!(matches!(
        log.read(TOPIC, 0, Offset(start - 1), 1),
        Err(ReadError::OffsetOutOfRange { start: s, .. }) if s == Offset(start)
    ));
    assert!(matches!(
        log.read(TOPIC, 0, Offset(0), 1),
        Err(ReadError::OffsetOutOfRange { .. })
    ));
    // offset_for_time only finds offsets still stored.
    let t = log.offset_for_time(TOPIC, 0, Timestamp(i64::MIN)).unwrap();
    assert_eq!(t, Some(Offset(start)));
    // Reopen keeps the same start; the active segment is never deleted.
    drop(log);
    let log = open_sim(
        &storage,
        &clock,
        LogConfig {
            retention_bytes: Some(1),
            ..config
        },
    )
    .unwrap();
    assert_eq!(
        log.partition_info(TOPIC, 0).unwrap().start_offset,
        Offset(start)
    );
    log.enforce_retention();
    let info = log.partition_info(TOPIC, 0).unwrap();
    assert_eq!(info.segments, 1, "only the active segment is left");
    assert_eq!(info.end_offset, Offset(expected[0].len() as u64));
    let start = info.start_offset.0;
    assert_eq!(
        read_all(&log, TOPIC, 0),
        as_stored(&expected[0][start as usize..], start)
    );
}

#[test]
fn retention_by_age_deletes_only_old_sealed_segments() {
    let storage = SimStorage::new(3);
    let clock = ManualClock::new(0);
    let config = LogConfig {
        retention_ms: Some(1_000),
        ..small_config()
    };
    let log = open_sim(&storage, &clock, config).unwrap();
    log.create_topic(TOPIC, 1).unwrap();
    // Event time grows by 10 ms per record; one record is an outlier from the future in an
    // early segment, which must keep that segment (and so everything after it) alive.
    let mut expected = Vec::new();
    for i in 0..600i64 {
        let ts = if i == 300 { 1_000_000 } else { i * 10 };
        let record = rec(ts, Some(b"k"), &[b'x'; 30]);
        log.append(TOPIC, 0, std::slice::from_ref(&record), None)
            .unwrap();
        expected.push(record);
    }
    let bases = segment_bases(&storage, 0);
    assert!(bases.len() > 5);
    // Max event time per segment.
    let seg_max = |k: usize| -> i64 {
        let end = bases.get(k + 1).copied().unwrap_or(expected.len() as u64) as usize;
        expected[bases[k] as usize..end]
            .iter()
            .map(|r| r.timestamp.0)
            .max()
            .unwrap()
    };
    for now in [0i64, 1_500, 2_500, 4_000, 10_000, 2_000_000] {
        clock.set_ms(now);
        let before = segment_bases(&storage, 0);
        log.enforce_retention();
        let after = segment_bases(&storage, 0);
        // The expected survivors: drop the oldest sealed segments while too old.
        let mut keep_from = 0;
        while keep_from + 1 < before.len() {
            let k = bases.iter().position(|b| *b == before[keep_from]).unwrap();
            if seg_max(k) < now - 1_000 {
                keep_from += 1;
            } else {
                break;
            }
        }
        assert_eq!(after, before[keep_from..].to_vec(), "now = {now}");
        let start = after[0];
        assert_eq!(
            log.partition_info(TOPIC, 0).unwrap().start_offset,
            Offset(start)
        );
        assert_eq!(
            read_all(&log, TOPIC, 0),
            as_stored(&expected[start as usize..], start)
        );
        if start > 0 {
            assert!(matches!(
                log.read(TOPIC, 0, Offset(start - 1), 1),
                Err(ReadError::OffsetOutOfRange { .. })
            ));
        }
    }
    let after = segment_bases(&storage, 0);
    assert_eq!(after.len(), 1, "at 2_000_000 every sealed segment is old");
    assert_eq!(
        log.partition_info(TOPIC, 0).unwrap().end_offset,
        Offset(600)
    );
}

#[test]
fn deleted_or_damaged_indexes_are_rebuilt_on_open() {
    let storage = SimStorage::new(4);
    let clock = ManualClock::new(0);
    let log = open_sim(&storage, &clock, small_config()).unwrap();
    log.create_topic(TOPIC, 1).unwrap();
    let mut rng = SmallRng::seed_from_u64(4);
    let expected = fill(&log, 1, 200, &mut rng);
    log.close().unwrap();
    let dir = partition_dir(TOPIC, 0);
    let indexes = files_with_ext(&storage, &dir, "index");
    assert!(indexes.len() >= 6, "{indexes:?}");
    // Damage: delete, truncate, flip a byte, replace with another segment's index, empty.
    storage.remove_file(&dir.join(&indexes[0])).unwrap();
    let path1 = dir.join(&indexes[1]);
    let bytes1 = storage.live_bytes(&path1).unwrap();
    storage
        .overwrite_bytes(&path1, bytes1[..bytes1.len() / 2].to_vec())
        .unwrap();
    let path2 = dir.join(&indexes[2]);
    let mut bytes2 = storage.live_bytes(&path2).unwrap();
    bytes2[20] ^= 0x40;
    storage.overwrite_bytes(&path2, bytes2).unwrap();
    let path3 = dir.join(&indexes[3]);
    let other = storage.live_bytes(&dir.join(&indexes[4])).unwrap();
    storage.overwrite_bytes(&path3, other).unwrap();
    storage
        .overwrite_bytes(&dir.join(&indexes[5]), Vec::new())
        .unwrap();

    let report = verify_log(&storage, Path::new(LOG_DIR), &small_config());
    let stale: Vec<_> = report
        .findings
        .iter()
        .filter(|f| matches!(f, Finding::IndexStale { .. }))
        .collect();
    assert_eq!(stale.len(), 5, "{:?}", report.findings);
    assert!(!report.has_damage(), "{:?}", report.findings);

    let log = open_sim(&storage, &clock, small_config()).unwrap();
    check_contents(&log, &expected);
    let report = verify_log(&storage, Path::new(LOG_DIR), &small_config());
    assert!(
        report.findings.is_empty(),
        "indexes rewritten: {:?}",
        report.findings
    );
    assert_eq!(files_with_ext(&storage, &dir, "index"), indexes);
    // The rebuilt indexes serve the same reads after another reopen.
    drop(log);
    let log = open_sim(&storage, &clock, small_config()).unwrap();
    check_contents(&log, &expected);
    // A segment file's handle is still readable via the storage, as a sanity check.
    let seg = storage
        .open(
            &dir.join(exactly_log::segment_file_name(Offset(0))),
            exactly_core::OpenMode::Existing,
        )
        .unwrap();
    assert!(seg.len_bytes().unwrap() > 0);
}

#[test]
fn bad_input_gets_typed_errors() {
    let storage = SimStorage::new(5);
    let clock = ManualClock::new(0);
    let log = open_sim(&storage, &clock, small_config()).unwrap();
    for name in [
        "",
        ".hidden",
        "a/b",
        "a b",
        "tab\t",
        "ünï",
        "..",
        &"x".repeat(201),
    ] {
        assert!(
            matches!(
                log.create_topic(name, 1),
                Err(TopicError::InvalidName { .. })
            ),
            "{name:?}"
        );
    }
    assert!(log.create_topic(&"x".repeat(200), 1).is_ok());
    assert!(matches!(
        log.create_topic("t", 0),
        Err(TopicError::InvalidPartitions { partitions: 0 })
    ));
    assert!(matches!(
        log.create_topic("t", 10_001),
        Err(TopicError::InvalidPartitions { partitions: 10_001 })
    ));
    log.create_topic(TOPIC, 2).unwrap();
    log.create_topic(TOPIC, 2).unwrap();
    assert!(matches!(
        log.create_topic(TOPIC, 3),
        Err(TopicError::AlreadyExists { partitions: 2, .. })
    ));
    let one = [rec(1, None, b"v")];
    assert!(matches!(
        log.append("nope", 0, &one, None),
        Err(AppendError::UnknownTopic { topic }) if topic == "nope"
    ));
    assert!(matches!(
        log.append(TOPIC, 2, &one, None),
        Err(AppendError::UnknownPartition {
            partition: 2,
            partitions: 2,
            ..
        })
    ));
    assert!(matches!(
        log.read("nope", 0, Offset(0), 1),
        Err(ReadError::UnknownTopic { .. })
    ));
    assert!(matches!(
        log.read(TOPIC, 7, Offset(0), 1),
        Err(ReadError::UnknownPartition { partition: 7, .. })
    ));
    assert!(matches!(
        log.offset_for_time(TOPIC, 9, Timestamp(0)),
        Err(ReadError::UnknownPartition { .. })
    ));
    assert!(matches!(
        log.partition_info("nope", 0),
        Err(ReadError::UnknownTopic { .. })
    ));
    assert!(matches!(
        log.append(TOPIC, 0, &[], None),
        Err(AppendError::Encode(exactly_log::batch::EncodeError::Empty))
    ));
    let big = [rec(1, None, &[b'x'; 4000])];
    assert!(matches!(
        log.append(TOPIC, 0, &big, None),
        Err(AppendError::Encode(
            exactly_log::batch::EncodeError::TooLarge { .. }
        ))
    ));
    // Nothing was written by the refused appends; the log still works.
    assert_eq!(log.partition_info(TOPIC, 0).unwrap().end_offset, Offset(0));
    assert_eq!(
        log.append(TOPIC, 0, &one, None).unwrap(),
        AppendOutcome::Appended {
            base_offset: Offset(0),
            last_offset: Offset(0)
        }
    );
    // Bad configs are refused at open.
    let bad = LogConfig {
        segment_bytes_max: 100,
        ..LogConfig::default()
    };
    assert!(matches!(
        open_sim(&storage, &clock, bad),
        Err(exactly_log::OpenError::BadConfig(_))
    ));
}

#[test]
fn large_batches_round_trip() {
    // Batches above and below the size where sealing switches from recomputing the CRC to
    // combining it with the precomputed body CRC.
    let storage = SimStorage::new(6);
    let clock = ManualClock::new(0);
    let config = LogConfig {
        segment_bytes_max: 4 << 20,
        batch_bytes_max: 1 << 20,
        ..LogConfig::default()
    };
    let log = open_sim(&storage, &clock, config.clone()).unwrap();
    log.create_topic(TOPIC, 1).unwrap();
    let mut expected = Vec::new();
    for (i, len) in [10usize, 200_000, 262_100, 262_200, 700_000, 5]
        .into_iter()
        .enumerate()
    {
        let value: Vec<u8> = (0..len).map(|j| (j * 31 + i) as u8).collect();
        let record = rec(i as i64, Some(b"big"), &value);
        log.append(TOPIC, 0, std::slice::from_ref(&record), None)
            .unwrap();
        expected.push(stored(i as u64, &record));
    }
    assert_eq!(read_all(&log, TOPIC, 0), expected);
    drop(log);
    let report = verify_log(&storage, Path::new(LOG_DIR), &config);
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    let log = open_sim(&storage, &clock, config).unwrap();
    assert_eq!(read_all(&log, TOPIC, 0), expected);
}
