//! Transactions against an in-memory model (proptest).
//!
//! Two transactional ids write transactions over four partitions of two topics, interleaved
//! with plain appends. Operations: begin, send (k records to a partition), commit, abort,
//! prepare (then commit/abort later), re-init of an id (a new `TransactionalProducer`,
//! fencing the old one: its later operations must fail with `Fenced`), operations of such
//! fenced zombies, timeouts (`ManualClock`; noticed by `expire_transactions`, by the
//! producer's next call — `TimedOut` — or by creating a producer), a clean close and
//! reopen, a crash (`SimStorage::crash`, tear mode chosen) and reopen, and a clean close
//! after which every partition's newest batch, when it is a commit/abort marker, is
//! damaged and cut by `repair_log` (a lost marker): the reopen must write the same decision
//! again, so the model does not change. After a restart
//! recovery has aborted every open transaction; prepared ones are resumed through
//! `transactional_producer` (which must report `is_prepared()`) and committed or aborted as
//! the operation says. 4 KiB segments, so rolls and producer snapshots happen.
//!
//! The model knows every offset: data batches, plain appends and the control markers
//! (written only where the transaction has data). After every operation, per partition:
//! - `read_committed` returns exactly the plain records and the records of committed
//!   transactions below the last stable offset (the first offset of the oldest open or
//!   prepared transaction), at their offsets, in order — never aborted or open data;
//! - `read_uncommitted` returns every data record written, at its offset;
//! - the LSO, the end offset and the open transactions match the model.
//!
//! As every operation is one call, the equality after each operation also shows that a
//! transaction's records appear in all its partitions at once.
//!
//! The proptest seed comes from `EXACTLY_SEED`/`EXACTLY_SEEDS` (printed on failure), the
//! number of cases from `EXACTLY_PROPTEST_CASES` (default 256).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use common::*;
use exactly_core::{ManualClock, Offset, SimStorage, TearMode};
use exactly_log::{
    Durability, Isolation, Log, LogConfig, MarkerSync, TransactionalProducer, TxnError, TxnState,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};
use std::collections::BTreeSet;

const PARTS: [(&str, u32); 4] = [("a", 0), ("a", 1), ("b", 0), ("b", 1)];
const IDS: [&str; 2] = ["t0", "t1"];
const TIMEOUT_MS: i64 = 10_000;
const TEARS: [TearMode; 4] = [
    TearMode::DropUnsynced,
    TearMode::KeepPrefix,
    TearMode::PrefixThenGarbage,
    TearMode::PrefixThenZeros,
];

#[derive(Clone, Debug)]
enum Op {
    Begin {
        id: usize,
    },
    Send {
        id: usize,
        part: usize,
        count: u8,
    },
    Commit {
        id: usize,
    },
    Abort {
        id: usize,
    },
    Prepare {
        id: usize,
    },
    Plain {
        part: usize,
        count: u8,
    },
    Init {
        id: usize,
    },
    Zombie {
        id: usize,
        pick: usize,
    },
    /// The clock passes every open transaction's timeout; `now`: `expire_transactions`
    /// at once, else each is noticed when its producer next calls (`TimedOut`) or when
    /// any producer is created.
    Timeout {
        now: bool,
    },
    Reopen {
        commit: [bool; 2],
    },
    Crash {
        tear: usize,
        commit: [bool; 2],
    },
    LoseMarkers {
        commit: [bool; 2],
    },
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let id = 0..IDS.len();
    let part = 0..PARTS.len();
    prop_oneof![
        3 => id.clone().prop_map(|id| Op::Begin { id }),
        10 => (id.clone(), part.clone(), 1..=3u8).prop_map(|(id, part, count)| Op::Send { id, part, count }),
        3 => id.clone().prop_map(|id| Op::Commit { id }),
        2 => id.clone().prop_map(|id| Op::Abort { id }),
        2 => id.clone().prop_map(|id| Op::Prepare { id }),
        4 => (part, 1..=3u8).prop_map(|(part, count)| Op::Plain { part, count }),
        1 => id.clone().prop_map(|id| Op::Init { id }),
        2 => (id, any::<usize>()).prop_map(|(id, pick)| Op::Zombie { id, pick }),
        2 => any::<bool>().prop_map(|now| Op::Timeout { now }),
        1 => any::<[bool; 2]>().prop_map(|commit| Op::Reopen { commit }),
        1 => (0..TEARS.len(), any::<[bool; 2]>()).prop_map(|(tear, commit)| Op::Crash { tear, commit }),
        1 => any::<[bool; 2]>().prop_map(|commit| Op::LoseMarkers { commit }),
    ]
}

fn config() -> LogConfig {
    LogConfig {
        durability: Durability::Immediate,
        segment_bytes_max: 4096,
        batch_bytes_max: 2048,
        index_interval_bytes: 512,
        // The model shows a commit to readers the moment `commit` returns; with markers
        // trailing the decision (the default) readers see it a sync later
        // (`txn_crash_point_sweep` and `txn_trailing_markers_become_visible` cover that).
        marker_sync: MarkerSync::BeforeReturn,
        ..LogConfig::default()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Open,
    Prepared,
    Committed,
    Aborted,
}

#[derive(Debug)]
struct Txn {
    status: Status,
    /// Partitions (indexes into `PARTS`) holding data of the transaction, in order of first
    /// write.
    parts: BTreeSet<usize>,
}

/// One offset of a partition.
#[derive(Clone, Debug)]
enum Slot {
    Data { value: String, txn: Option<usize> },
    Marker,
}

/// A producer's own idea of its state (what decides which calls are valid for it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Local {
    Empty,
    Ongoing,
    Prepared,
}

#[derive(Debug, Default)]
struct Model {
    parts: Vec<Vec<Slot>>,
    txns: Vec<Txn>,
    /// Current transaction of each id (begun and not ended).
    current: [Option<usize>; 2],
    /// Local state of each id's live producer (`None`: no producer).
    live: [Option<Local>; 2],
    /// Local states of fenced producers, parallel to the harness's zombies.
    zombies: [Vec<Local>; 2],
    /// Ids whose open transaction has timed out but not been aborted yet.
    pending: [bool; 2],
    values: u64,
}

impl Model {
    fn new() -> Self {
        Self {
            parts: vec![Vec::new(); PARTS.len()],
            ..Self::default()
        }
    }

    fn value(&mut self, tag: &str) -> String {
        self.values += 1;
        // Padded so that segments roll every few dozen batches.
        format!("{tag}#{}-{}", self.values, "x".repeat(24))
    }

    /// Ends `txn`: a marker in every partition with its data.
    fn end(&mut self, txn: usize, status: Status) {
        let parts = self.txns[txn].parts.clone();
        for part in parts {
            self.parts[part].push(Slot::Marker);
        }
        self.txns[txn].status = status;
    }

    /// Aborts the current transaction of `id` if it is open (not prepared).
    fn abort_open(&mut self, id: usize) -> bool {
        match self.current[id] {
            Some(txn) if self.txns[txn].status == Status::Open => {
                self.end(txn, Status::Aborted);
                self.current[id] = None;
                true
            }
            _ => false,
        }
    }

    fn prepared(&self, id: usize) -> Option<usize> {
        self.current[id].filter(|t| self.txns[*t].status == Status::Prepared)
    }

    fn is_open(&self, txn: Option<usize>) -> bool {
        txn.is_some_and(|t| matches!(self.txns[t].status, Status::Open | Status::Prepared))
    }

    fn lso(&self, part: usize) -> usize {
        self.parts[part]
            .iter()
            .position(|s| matches!(s, Slot::Data { txn, .. } if self.is_open(*txn)))
            .unwrap_or(self.parts[part].len())
    }
}

/// The live handles of one opening of the log.
struct Handles<'a> {
    live: [Option<TransactionalProducer<'a>>; 2],
    zombies: [Vec<TransactionalProducer<'a>>; 2],
}

fn invalid<T: std::fmt::Debug>(result: Result<T, TxnError>, what: &str) {
    assert!(
        matches!(result, Err(TxnError::InvalidState { .. })),
        "{what}: expected InvalidState, got {result:?}"
    );
}

fn fenced<T: std::fmt::Debug>(result: Result<T, TxnError>, what: &str) {
    assert!(
        matches!(result, Err(TxnError::Fenced { .. })),
        "{what}: expected Fenced, got {result:?}"
    );
}

/// A new producer for `id`: the previous one becomes a zombie; an open transaction is
/// aborted, a prepared one handed over.
/// A timed-out transaction is aborted; its producer is fenced.
fn expire(h: &mut Handles<'_>, m: &mut Model, id: usize) {
    m.abort_open(id);
    m.pending[id] = false;
    h.zombies[id].push(h.live[id].take().unwrap());
    m.zombies[id].push(m.live[id].take().unwrap());
}

/// Whether `id`'s next call finds its transaction timed out.
fn timed_out(m: &Model, id: usize) -> bool {
    m.pending[id] && m.live[id] == Some(Local::Ongoing)
}

fn expect_timed_out<T: std::fmt::Debug>(
    h: &mut Handles<'_>,
    m: &mut Model,
    id: usize,
    result: Result<T, TxnError>,
) {
    assert!(
        matches!(result, Err(TxnError::TimedOut { .. })),
        "{}: expected TimedOut, got {result:?}",
        IDS[id]
    );
    expire(h, m, id);
}

fn init<'a>(log: &'a Log, h: &mut Handles<'a>, m: &mut Model, id: usize) {
    let producer = log.transactional_producer(IDS[id], TIMEOUT_MS).unwrap();
    // Creating a producer first expires every timed-out transaction (in id order).
    for other in 0..IDS.len() {
        if m.pending[other] {
            expire(h, m, other);
        }
    }
    m.abort_open(id);
    let prepared = m.prepared(id).is_some();
    assert_eq!(producer.is_prepared(), prepared, "init of {}", IDS[id]);
    if let (Some(old), Some(local)) = (h.live[id].take(), m.live[id].take()) {
        h.zombies[id].push(old);
        m.zombies[id].push(local);
    }
    h.live[id] = Some(producer);
    m.live[id] = Some(if prepared {
        Local::Prepared
    } else {
        Local::Empty
    });
}

fn ensure_live<'a>(log: &'a Log, h: &mut Handles<'a>, m: &mut Model, id: usize) {
    if h.live[id].is_none() {
        init(log, h, m, id);
    }
}

fn begin(h: &mut Handles<'_>, m: &mut Model, id: usize) {
    h.live[id].as_mut().unwrap().begin().unwrap();
    m.txns.push(Txn {
        status: Status::Open,
        parts: BTreeSet::new(),
    });
    m.current[id] = Some(m.txns.len() - 1);
    m.live[id] = Some(Local::Ongoing);
}

fn end(h: &mut Handles<'_>, m: &mut Model, id: usize, commit: bool) {
    let producer = h.live[id].as_mut().unwrap();
    let what = format!("{} of {}", if commit { "commit" } else { "abort" }, IDS[id]);
    match m.live[id] {
        Some(Local::Ongoing | Local::Prepared) => {
            match commit {
                true => producer.commit(),
                false => producer.abort(),
            }
            .unwrap_or_else(|e| panic!("{what}: {e}"));
            let txn = m.current[id].take().unwrap();
            m.end(
                txn,
                if commit {
                    Status::Committed
                } else {
                    Status::Aborted
                },
            );
            m.live[id] = Some(Local::Empty);
        }
        _ => invalid(
            match commit {
                true => producer.commit(),
                false => producer.abort(),
            },
            &what,
        ),
    }
}

fn apply<'a>(log: &'a Log, clock: &ManualClock, h: &mut Handles<'a>, m: &mut Model, op: &Op) {
    match *op {
        Op::Begin { id } => {
            ensure_live(log, h, m, id);
            match m.live[id] {
                Some(Local::Empty) => begin(h, m, id),
                _ => invalid(h.live[id].as_mut().unwrap().begin(), "begin"),
            }
        }
        Op::Send { id, part, count } => {
            ensure_live(log, h, m, id);
            if m.live[id] == Some(Local::Empty) {
                begin(h, m, id);
            }
            let (topic, partition) = PARTS[part];
            let values: Vec<String> = (0..count).map(|_| m.value(IDS[id])).collect();
            let records: Vec<_> = values.iter().map(|v| rec(1, None, v.as_bytes())).collect();
            let producer = h.live[id].as_mut().unwrap();
            if m.live[id] == Some(Local::Prepared) {
                return invalid(producer.send(topic, partition, &records), "send");
            }
            if timed_out(m, id) {
                let result = producer.send(topic, partition, &records);
                return expect_timed_out(h, m, id, result);
            }
            producer.send(topic, partition, &records).unwrap();
            let txn = m.current[id].unwrap();
            m.txns[txn].parts.insert(part);
            for value in values {
                m.parts[part].push(Slot::Data {
                    value,
                    txn: Some(txn),
                });
            }
        }
        Op::Commit { id } | Op::Abort { id } => {
            ensure_live(log, h, m, id);
            let commit = matches!(op, Op::Commit { .. });
            if timed_out(m, id) {
                let producer = h.live[id].as_mut().unwrap();
                let result = if commit {
                    producer.commit()
                } else {
                    producer.abort()
                };
                return expect_timed_out(h, m, id, result);
            }
            end(h, m, id, commit);
        }
        Op::Prepare { id } => {
            ensure_live(log, h, m, id);
            let producer = h.live[id].as_mut().unwrap();
            if timed_out(m, id) {
                let result = producer.prepare();
                return expect_timed_out(h, m, id, result);
            }
            if m.live[id] == Some(Local::Ongoing) {
                producer.prepare().unwrap();
                let txn = m.current[id].unwrap();
                m.txns[txn].status = Status::Prepared;
                m.live[id] = Some(Local::Prepared);
            } else {
                invalid(producer.prepare(), "prepare");
            }
        }
        Op::Plain { part, count } => {
            let (topic, partition) = PARTS[part];
            let values: Vec<String> = (0..count).map(|_| m.value("plain")).collect();
            let records: Vec<_> = values.iter().map(|v| rec(1, None, v.as_bytes())).collect();
            log.append(topic, partition, &records, None).unwrap();
            for value in values {
                m.parts[part].push(Slot::Data { value, txn: None });
            }
        }
        Op::Init { id } => init(log, h, m, id),
        Op::Zombie { id, pick } => {
            if h.zombies[id].is_empty() {
                return;
            }
            let k = pick % h.zombies[id].len();
            let zombie = &mut h.zombies[id][k];
            let what = format!("zombie {k} of {} in {:?}", IDS[id], m.zombies[id][k]);
            match (m.zombies[id][k], pick / 7 % 4) {
                (Local::Empty, _) => fenced(zombie.begin(), &what),
                (Local::Ongoing, 0) => fenced(zombie.send("a", 0, &[rec(0, None, b"z")]), &what),
                (Local::Ongoing, 1) => fenced(zombie.prepare(), &what),
                (_, 2) => fenced(zombie.abort(), &what),
                _ => fenced(zombie.commit(), &what),
            }
        }
        Op::Timeout { now } => {
            clock.advance_ms(TIMEOUT_MS * 2);
            for id in 0..IDS.len() {
                if m.live[id] == Some(Local::Ongoing) {
                    m.pending[id] = true;
                }
            }
            if now {
                let expected = m.pending.iter().filter(|p| **p).count();
                for id in 0..IDS.len() {
                    if m.pending[id] {
                        expire(h, m, id);
                    }
                }
                assert_eq!(log.expire_transactions().unwrap(), expected, "expired");
            }
        }
        Op::Reopen { .. } | Op::Crash { .. } | Op::LoseMarkers { .. } => {
            unreachable!("handled by run")
        }
    }
}

fn check(log: &Log, m: &Model) {
    for (part, (topic, partition)) in PARTS.iter().enumerate() {
        let slots = &m.parts[part];
        let lso = m.lso(part);
        let data = |upto: usize, committed_only: bool| -> Vec<(u64, String)> {
            slots
                .iter()
                .enumerate()
                .take(upto)
                .filter_map(|(offset, slot)| match slot {
                    Slot::Data { value, txn } => {
                        let visible = match txn {
                            None => true,
                            Some(t) => m.txns[*t].status == Status::Committed,
                        };
                        (visible || !committed_only).then(|| (offset as u64, value.clone()))
                    }
                    Slot::Marker => None,
                })
                .collect()
        };
        let committed = read_all_with(log, topic, *partition, Isolation::ReadCommitted);
        let expected = data(lso, true);
        if committed != expected {
            let hidden: Vec<_> = committed.iter().filter(|r| !expected.contains(r)).collect();
            panic!(
                "{topic}/{partition}: read_committed differs from the model (LSO {lso})\n\
                 unexpected (aborted/open/beyond LSO?): {hidden:?}\n got: {committed:?}\n want: {expected:?}"
            );
        }
        // Readers see only durable records, and an open transaction's sends are synced at
        // its commit or prepare, not one by one: so the visible end may stop short of an
        // open transaction's unsynced tail — never short of the LSO.
        let info = log.partition_info(topic, *partition).unwrap();
        let end = info.end_offset.0 as usize;
        assert!(
            lso <= end && end <= slots.len(),
            "{topic}/{partition}: visible end {end} outside [LSO {lso}, written {}]",
            slots.len()
        );
        if lso == slots.len() {
            assert_eq!(
                end,
                slots.len(),
                "{topic}/{partition}: nothing open, all visible"
            );
        }
        let uncommitted = read_all_with(log, topic, *partition, Isolation::ReadUncommitted);
        assert_eq!(
            uncommitted,
            data(end, false),
            "{topic}/{partition}: read_uncommitted"
        );
        assert_eq!(
            info.last_stable_offset,
            Offset(lso as u64),
            "{topic}/{partition}: LSO"
        );
        let open: BTreeSet<usize> = slots
            .iter()
            .filter_map(|s| match s {
                Slot::Data { txn: Some(t), .. } if m.is_open(Some(*t)) => Some(*t),
                _ => None,
            })
            .collect();
        assert_eq!(
            info.open_transactions.len(),
            open.len(),
            "{topic}/{partition}: open transactions"
        );
    }
    let states = log.transactions().unwrap();
    for (id, name) in IDS.iter().enumerate() {
        if m.prepared(id).is_some() {
            let meta = states.iter().find(|t| t.transactional_id == *name).unwrap();
            assert_eq!(meta.state, TxnState::Prepared, "{name} is prepared");
        }
    }
}

/// After a restart: recovery aborted open transactions (in id order, as it walks its
/// table); producers are gone.
fn restarted(m: &mut Model) {
    for id in 0..IDS.len() {
        m.abort_open(id);
        m.live[id] = None;
        m.zombies[id].clear();
        m.pending[id] = false;
    }
}

/// Damages the newest batch of every partition whose newest offset is a marker (when it
/// is in the active segment) and cuts it with `repair_log`, as an operator would.
fn lose_last_markers(storage: &SimStorage, m: &Model) {
    let mut damaged = 0;
    for (part, (topic, partition)) in PARTS.iter().enumerate() {
        if !matches!(m.parts[part].last(), Some(Slot::Marker)) {
            continue;
        }
        let dir = partition_dir(topic, *partition);
        let last = files_with_ext(storage, &dir, "log").pop().unwrap();
        let path = dir.join(last);
        let mut bytes = storage.live_bytes(&path).unwrap();
        let mut at = 0;
        let mut batch = None;
        while let Ok(h) = exactly_log::batch::check_batch(&bytes[at..], 1 << 20) {
            batch = Some((at, at + h.batch_len as usize));
            at += h.batch_len as usize;
        }
        let Some((start, end)) = batch else {
            continue; // Just rolled: the marker is in a sealed segment.
        };
        bytes[(start + end) / 2] ^= 0x08;
        storage.overwrite_bytes(&path, bytes).unwrap();
        damaged += 1;
    }
    let dir = std::path::Path::new(LOG_DIR);
    let actions = exactly_log::repair::repair_log(storage, dir, &config(), None, None).unwrap();
    assert_eq!(actions.len(), damaged, "{actions:?}");
    assert!(actions.iter().all(|a| a.durable_offsets_dropped() == 1));
}

fn run(seed: u64, ops: &[Op]) {
    let storage = SimStorage::new(seed);
    let clock = ManualClock::new(1_000_000);
    let mut m = Model::new();
    let mut i = 0;
    let mut decisions: Option<[bool; 2]> = None;
    loop {
        let log = open_sim(&storage, &clock, config()).unwrap();
        log.create_topic("a", 2).unwrap();
        log.create_topic("b", 2).unwrap();
        let mut h = Handles {
            live: [None, None],
            zombies: [Vec::new(), Vec::new()],
        };
        check(&log, &m);
        if let Some(commit) = decisions.take() {
            for (id, decision) in commit.into_iter().enumerate() {
                if m.prepared(id).is_some() {
                    init(&log, &mut h, &mut m, id);
                    end(&mut h, &mut m, id, decision);
                    check(&log, &m);
                }
            }
        }
        let mut restart = None;
        while let Some(op) = ops.get(i) {
            i += 1;
            if matches!(
                op,
                Op::Reopen { .. } | Op::Crash { .. } | Op::LoseMarkers { .. }
            ) {
                restart = Some(op.clone());
                break;
            }
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                apply(&log, &clock, &mut h, &mut m, op);
                check(&log, &m);
            }));
            if let Err(panic) = result {
                eprintln!("op {} ({op:?}) failed", i - 1);
                std::panic::resume_unwind(panic);
            }
        }
        drop(h);
        match restart {
            None => return,
            Some(Op::Reopen { commit }) => {
                log.close().unwrap();
                decisions = Some(commit);
            }
            Some(Op::Crash { tear, commit }) => {
                // An open transaction's sends are not synced one by one (commit and prepare
                // flush them), so a crash may cut its unsynced tail; this model does not
                // predict where. Such crashes are `txn_crash_point_sweep*.rs`'s business:
                // here everything written is made durable first, and the crash still loses
                // all in-memory state and tears nothing durable.
                log.flush().unwrap();
                drop(log);
                storage.crash(TEARS[tear]);
                decisions = Some(commit);
            }
            Some(Op::LoseMarkers { commit }) => {
                log.close().unwrap();
                lose_last_markers(&storage, &m);
                decisions = Some(commit);
            }
            Some(_) => unreachable!(),
        }
        restarted(&mut m);
    }
}

#[test]
fn transactions_match_the_model() {
    let cases: u32 = std::env::var("EXACTLY_PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(256);
    for seed in seeds(0x7a11) {
        let config = Config {
            cases,
            rng_seed: RngSeed::Fixed(seed),
            failure_persistence: None,
            ..Config::default()
        };
        let mut runner = TestRunner::new(config);
        let result = runner.run(&prop::collection::vec(op_strategy(), 1..150), |ops| {
            std::panic::catch_unwind(|| run(seed, &ops))
                .map_err(|_| TestCaseError::fail(format!("{} ops", ops.len())))
        });
        if let Err(e) = result {
            panic!("seed {seed} (rerun with EXACTLY_SEED={seed}): {e}");
        }
    }
}
