//! Idempotent producers against an in-memory model (proptest).
//!
//! Random sequences of operations over 3 producers and 2 partitions: append the next batch,
//! retry one of the last 5 batches (→ `Duplicate` with the original offsets), retry an older
//! batch (→ `Duplicate { original: None }`), skip ahead (→ `OutOfOrderSequence`), bump a
//! producer's epoch (the new epoch starts at sequence 0), append as the old epoch after the
//! partition has seen the new one (→ `ProducerFenced`), clean close + reopen, and crash +
//! reopen (`SimStorage::crash(DropUnsynced)` under `Durability::Immediate`: nothing
//! acknowledged may be lost). After every operation the model checks the contents of both
//! partitions and what each partition remembers of each producer.
//!
//! The proptest seed comes from `EXACTLY_SEED`/`EXACTLY_SEEDS` (printed on failure), the
//! number of cases from `EXACTLY_PROPTEST_CASES` (default 96).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use common::*;
use exactly_core::{
    ManualClock, Offset, ProducerEpoch, ProducerId, Sequence, SimStorage, TearMode,
};
use exactly_log::producer::RETAINED_BATCHES;
use exactly_log::{AppendError, AppendOutcome, Durability, Log, LogConfig, Record, StoredRecord};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};

const TOPIC: &str = "model";
const PRODUCERS: usize = 3;
const PARTITIONS: usize = 2;

#[derive(Clone, Debug)]
enum Op {
    Append { p: usize, part: usize, count: u8 },
    RetryRecent { p: usize, part: usize, back: usize },
    RetryOld { p: usize, part: usize, pick: usize },
    Gap { p: usize, part: usize, gap: u64 },
    BumpEpoch { p: usize },
    Zombie { p: usize, part: usize },
    CloseReopen,
    CrashReopen,
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let p = 0..PRODUCERS;
    let part = 0..PARTITIONS;
    prop_oneof![
        8 => (p.clone(), part.clone(), 1..=3u8).prop_map(|(p, part, count)| Op::Append { p, part, count }),
        3 => (p.clone(), part.clone(), 0..RETAINED_BATCHES).prop_map(|(p, part, back)| Op::RetryRecent { p, part, back }),
        2 => (p.clone(), part.clone(), any::<usize>()).prop_map(|(p, part, pick)| Op::RetryOld { p, part, pick }),
        2 => (p.clone(), part.clone(), 1..4u64).prop_map(|(p, part, gap)| Op::Gap { p, part, gap }),
        1 => p.clone().prop_map(|p| Op::BumpEpoch { p }),
        2 => (p, part).prop_map(|(p, part)| Op::Zombie { p, part }),
        1 => Just(Op::CloseReopen),
        1 => Just(Op::CrashReopen),
    ]
}

/// One appended batch as the model remembers it.
#[derive(Clone, Debug)]
struct Batch {
    epoch: u16,
    first: u64,
    records: Vec<Record>,
    base: u64,
}

impl Batch {
    fn last_seq(&self) -> u64 {
        self.first + self.records.len() as u64 - 1
    }
    fn last_offset(&self) -> u64 {
        self.base + self.records.len() as u64 - 1
    }
}

#[derive(Default)]
struct Model {
    /// Current epoch of each producer.
    epoch: [u16; PRODUCERS],
    /// Next sequence of each producer per partition in its current epoch.
    next_seq: [[u64; PARTITIONS]; PRODUCERS],
    /// Contents of each partition.
    log: [Vec<StoredRecord>; PARTITIONS],
    /// Per partition and producer: the batches of the epoch the partition knows, in order.
    known: [[Vec<Batch>; PRODUCERS]; PARTITIONS],
    counter: u64,
}

impl Model {
    fn known_epoch(&self, part: usize, p: usize) -> Option<u16> {
        self.known[part][p].last().map(|b| b.epoch)
    }

    fn fresh_records(&mut self, count: u8) -> Vec<Record> {
        (0..count)
            .map(|_| {
                self.counter += 1;
                let key =
                    (!self.counter.is_multiple_of(3)).then(|| format!("k{}", self.counter % 5));
                rec(
                    self.counter as i64,
                    key.as_deref().map(str::as_bytes),
                    format!(
                        "value-{}-{}",
                        self.counter,
                        "y".repeat((self.counter % 40) as usize)
                    )
                    .as_bytes(),
                )
            })
            .collect()
    }

    fn push(
        &mut self,
        part: usize,
        p: usize,
        epoch: u16,
        first: u64,
        records: Vec<Record>,
    ) -> Batch {
        let base = self.log[part].len() as u64;
        for (i, r) in records.iter().enumerate() {
            self.log[part].push(stored(base + i as u64, r));
        }
        let batch = Batch {
            epoch,
            first,
            records,
            base,
        };
        let known = &mut self.known[part][p];
        if known.last().is_some_and(|b| b.epoch != epoch) {
            known.clear();
        }
        known.push(batch.clone());
        batch
    }
}

struct Harness {
    storage: SimStorage,
    clock: ManualClock,
    log: Option<Log>,
}

fn config() -> LogConfig {
    LogConfig {
        durability: Durability::Immediate,
        segment_bytes_max: 4096,
        batch_bytes_max: 1024,
        index_interval_bytes: 256,
        ..LogConfig::default()
    }
}

impl Harness {
    fn new(seed: u64) -> Self {
        let storage = SimStorage::new(seed);
        let clock = ManualClock::new(1_000);
        let log = open_sim(&storage, &clock, config()).unwrap();
        log.create_topic(TOPIC, PARTITIONS as u32).unwrap();
        Self {
            storage,
            clock,
            log: Some(log),
        }
    }

    fn log(&self) -> &Log {
        self.log.as_ref().unwrap()
    }

    fn append(
        &self,
        part: usize,
        p: usize,
        epoch: u16,
        seq: u64,
        records: &[Record],
    ) -> Result<AppendOutcome, AppendError> {
        let stamp = stamp(p as u64, epoch, seq);
        self.log().append(TOPIC, part as u32, records, Some(stamp))
    }

    fn reopen(&mut self, crash: bool) {
        let log = self.log.take().unwrap();
        if crash {
            drop(log);
            self.storage.crash(TearMode::DropUnsynced);
        } else {
            log.close().unwrap();
        }
        let log = open_sim(&self.storage, &self.clock, config()).unwrap();
        assert!(
            log.recovery_events().is_empty(),
            "nothing to recover under Immediate"
        );
        self.log = Some(log);
    }
}

fn apply(h: &mut Harness, m: &mut Model, op: &Op) {
    match *op {
        Op::Append { p, part, count } => {
            let records = m.fresh_records(count);
            let (epoch, seq) = (m.epoch[p], m.next_seq[p][part]);
            let got = h.append(part, p, epoch, seq, &records).unwrap();
            let batch = m.push(part, p, epoch, seq, records);
            m.next_seq[p][part] += u64::from(count);
            assert_eq!(
                got,
                AppendOutcome::Appended {
                    base_offset: Offset(batch.base),
                    last_offset: Offset(batch.last_offset()),
                }
            );
        }
        Op::RetryRecent { p, part, back } => {
            let known = &m.known[part][p];
            let Some(batch) = known.iter().rev().take(RETAINED_BATCHES).nth(back) else {
                return;
            };
            let got = h
                .append(part, p, batch.epoch, batch.first, &batch.records)
                .unwrap();
            let original = Some((Offset(batch.base), Offset(batch.last_offset())));
            assert_eq!(got, AppendOutcome::Duplicate { original });
        }
        Op::RetryOld { p, part, pick } => {
            let known = &m.known[part][p];
            let old = known.len().saturating_sub(RETAINED_BATCHES);
            if old == 0 {
                return;
            }
            let batch = &known[pick % old];
            let got = h
                .append(part, p, batch.epoch, batch.first, &batch.records)
                .unwrap();
            assert_eq!(got, AppendOutcome::Duplicate { original: None });
        }
        Op::Gap { p, part, gap } => {
            // An unknown producer may start anywhere; only known ones have gaps.
            let Some(known_epoch) = m.known_epoch(part, p) else {
                return;
            };
            let (epoch, seq) = (m.epoch[p], m.next_seq[p][part] + gap);
            let records = m.fresh_records(1);
            let got = h.append(part, p, epoch, seq, &records);
            let expected = if known_epoch == epoch {
                m.next_seq[p][part]
            } else {
                0 // a newer epoch must start at 0
            };
            assert!(
                matches!(
                    got,
                    Err(AppendError::OutOfOrderSequence { producer_id, expected: e, got: g })
                        if producer_id == ProducerId(p as u64) && e == Sequence(expected) && g == Sequence(seq)
                ),
                "{got:?}"
            );
        }
        Op::BumpEpoch { p } => {
            m.epoch[p] += 1;
            m.next_seq[p] = [0; PARTITIONS];
        }
        Op::Zombie { p, part } => {
            // Only a partition that has seen the newer epoch can fence the old one.
            let current = m.epoch[p];
            if current == 0 || m.known_epoch(part, p) != Some(current) {
                return;
            }
            let records = m.fresh_records(1);
            let got = h.append(part, p, current - 1, m.next_seq[p][part], &records);
            assert!(
                matches!(
                    got,
                    Err(AppendError::ProducerFenced { producer_id, epoch, current_epoch })
                        if producer_id == ProducerId(p as u64)
                            && epoch == ProducerEpoch(current - 1)
                            && current_epoch == ProducerEpoch(current)
                ),
                "{got:?}"
            );
        }
        Op::CloseReopen => h.reopen(false),
        Op::CrashReopen => h.reopen(true),
    }
}

fn check(h: &Harness, m: &Model) {
    for part in 0..PARTITIONS {
        let got = read_all(h.log(), TOPIC, part as u32);
        assert!(
            got == m.log[part],
            "partition {part}: {} records, model has {}",
            got.len(),
            m.log[part].len()
        );
        for p in 0..PRODUCERS {
            let state = h
                .log()
                .producer_state(TOPIC, part as u32, ProducerId(p as u64))
                .unwrap();
            let want = m.known[part][p]
                .last()
                .map(|b| (ProducerEpoch(b.epoch), Some(Sequence(b.last_seq()))));
            assert_eq!(
                state.map(|s| (s.epoch, s.last_sequence)),
                want,
                "partition {part} producer {p}"
            );
        }
    }
}

fn run(seed: u64, ops: &[Op]) {
    let mut h = Harness::new(seed);
    let mut m = Model::default();
    for (i, op) in ops.iter().enumerate() {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            apply(&mut h, &mut m, op);
            check(&h, &m);
        }));
        if let Err(panic) = result {
            eprintln!("op {i} ({op:?}) failed");
            std::panic::resume_unwind(panic);
        }
    }
}

#[test]
fn producers_match_the_model() {
    let cases: u32 = std::env::var("EXACTLY_PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(96);
    for seed in seeds(0x9e0d) {
        let config = Config {
            cases,
            rng_seed: RngSeed::Fixed(seed),
            failure_persistence: None,
            ..Config::default()
        };
        let mut runner = TestRunner::new(config);
        let result = runner.run(&prop::collection::vec(op_strategy(), 1..120), |ops| {
            std::panic::catch_unwind(|| run(seed, &ops))
                .map_err(|_| TestCaseError::fail(format!("{} ops", ops.len())))
        });
        if let Err(e) = result {
            panic!("seed {seed} (rerun with EXACTLY_SEED={seed}): {e}");
        }
    }
}
