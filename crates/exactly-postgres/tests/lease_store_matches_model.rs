//! The SQL is the model: random request sequences from several workers, at a fixed and
//! advancing store time, go to `LeaseTable::serve` and to `PgLeaseStore::serve` (its
//! clock fixed to the same `now_ms`); every answer must be identical, and so must the
//! whole state read back after every step. Requests are drawn mostly from what the model
//! holds (the coordinator's epoch, a task's owner and epoch, the assignee), so that
//! grants happen, and partly wrong (stale or future epochs, other workers, unknown tasks,
//! out-of-range leases, incomplete assignments), so that every refusal happens; times
//! repeat and land exactly on expiries. Every answer kind must have been seen.
//!
//! `EXACTLY_SEEDS=<n>` runs more sequences, `EXACTLY_SEED=<n>` replays one.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;
use crate::lease_common;

use exactly_cluster::config::LEASE_TTL_MS_MAX;
use exactly_cluster::{Assignment, Epoch, LeaseTable, Request, Response, TaskId, WorkerId};
use exactly_postgres::{PgLeaseStore, StoreClock};
use lease_common::{seeds, store, DropSchema};
use rand::rngs::SmallRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;

/// A worker id above `i64::MAX` checks the 64-bit storage of ids.
const WORKERS: [WorkerId; 4] = [
    WorkerId(1),
    WorkerId(2),
    WorkerId(3),
    WorkerId(u64::MAX - 6),
];
/// `u32::MAX` checks that task ids are not stored in an `integer`.
const TASKS: [TaskId; 4] = [TaskId(0), TaskId(1), TaskId(7), TaskId(u32::MAX)];
const UNKNOWN_TASK: TaskId = TaskId(5);
/// Lease lengths and time steps from small sets, so that `now_ms` often equals an expiry.
const TTLS_MS: [u64; 6] = [100, 300, 500, 1_000, 2_000, 4_000];
const STEPS_MS: [u64; 9] = [0, 0, 100, 100, 200, 300, 500, 1_000, 3_000];
const START_MS: u64 = 1_700_000_000_000;
const STEPS_PER_SEED: usize = 120;

#[test]
fn lease_store_answers_and_state_equal_the_model() {
    let Some(url) = common::pg_or_skip("lease_store_matches_model") else {
        return;
    };
    let schema = common::unique_schema("lease_model");
    let _drop = DropSchema {
        url: url.clone(),
        schema: schema.clone(),
    };
    let started = std::time::Instant::now();
    let mut kinds = BTreeMap::<String, u64>::new();
    let seeds = seeds(16);
    for seed in &seeds {
        let mut store = store(&url, &schema, &format!("seed{seed}"), &TASKS);
        run_seed(*seed, &mut store, &mut kinds);
    }
    println!(
        "{} seeds × {STEPS_PER_SEED} steps in {:?}; answers seen: {kinds:#?}",
        seeds.len(),
        started.elapsed()
    );
    if seeds.len() >= 16 {
        for kind in EXPECTED_KINDS {
            assert!(
                kinds.contains_key(*kind),
                "no {kind} answer was ever produced"
            );
        }
    }
}

/// Every kind of answer the model gives to these workers and tasks.
const EXPECTED_KINDS: &[&str] = &[
    "Heartbeat(Ok",
    "Heartbeat(Err(TtlOutOfRange",
    "Coordinate(Ok",
    "Coordinate(Err(Held",
    "Coordinate(Err(TtlOutOfRange",
    "Publish(Ok",
    "Publish(Err(NotCoordinator",
    "Publish(Err(VersionMoved",
    "Publish(Err(UnknownTask",
    "Publish(Err(MissingTask",
    "Acquire(Ok",
    "Acquire(Err(UnknownTask",
    "Acquire(Err(TtlOutOfRange",
    "Acquire(Err(NotAssigned",
    "Acquire(Err(Held",
    "Renew(Ok",
    "Renew(Err(Fenced",
    "Renew(Err(Released",
    "Renew(Err(Expired",
    "Renew(Err(UnknownTask",
    "Release(Ok",
    "Release(Err(Fenced",
    "CommitCheck(Ok",
    "CommitCheck(Err(Fenced",
    "CommitCheck(Err(Released",
    "CommitCheck(Err(Expired",
    "forget",
];

fn run_seed(seed: u64, store: &mut PgLeaseStore, kinds: &mut BTreeMap<String, u64>) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut model = LeaseTable::new(&TASKS);
    let mut now_ms = START_MS;
    let mut history = Vec::new();
    for step in 0..STEPS_PER_SEED {
        now_ms += *STEPS_MS.choose(&mut rng).unwrap();
        store.set_clock(StoreClock::Fixed(now_ms)).unwrap();
        let context = |history: &[String]| {
            let tail = &history[history.len().saturating_sub(8)..];
            format!(
                "seed {seed} step {step} (EXACTLY_SEED={seed} replays it); last steps:\n{}",
                tail.join("\n")
            )
        };
        if rng.random_bool(0.04) {
            model.forget_expired_members(now_ms);
            store.forget_expired_members().unwrap();
            history.push(format!("{now_ms}: forget expired members"));
            *kinds.entry("forget".into()).or_default() += 1;
        } else {
            let request = draw_request(&mut rng, &model);
            let expected = model.serve(now_ms, &request);
            let got = store
                .serve(&request)
                .unwrap_or_else(|e| panic!("{e}\n{}", context(&history)));
            history.push(format!("{now_ms}: {request:?} -> {expected:?}"));
            assert_eq!(got, expected, "answers differ\n{}", context(&history));
            *kinds.entry(kind(&expected)).or_default() += 1;
        }
        let stored = store.snapshot().unwrap();
        assert_eq!(stored, model, "states differ\n{}", context(&history));
    }
}

/// The answer's variant path, e.g. `Acquire(Err(Held`.
fn kind(response: &Response) -> String {
    let text = format!("{response:?}");
    let cut = text.find([' ', '{', ')']).unwrap_or(text.len());
    let kind = &text[..cut];
    match kind.find("(Ok(") {
        Some(at) => kind[..at + 3].to_string(),
        None => kind.to_string(),
    }
}

fn draw_request(rng: &mut SmallRng, model: &LeaseTable) -> Request {
    match rng.random_range(0..100) {
        0..12 => Request::Heartbeat {
            worker: worker(rng),
            member_ttl_ms: ttl(rng),
        },
        12..24 => Request::Coordinate {
            worker: worker(rng),
            ttl_ms: ttl(rng),
        },
        24..36 => publish(rng, model),
        36..58 => {
            let task = task(rng);
            Request::Acquire {
                worker: assignee_or_any(rng, model, task),
                task,
                ttl_ms: ttl(rng),
            }
        }
        58..74 => {
            let (worker, task, epoch) = lease_holder(rng, model);
            Request::Renew {
                worker,
                task,
                epoch,
                ttl_ms: ttl(rng),
            }
        }
        74..84 => {
            let (worker, task, epoch) = lease_holder(rng, model);
            Request::Release {
                worker,
                task,
                epoch,
            }
        }
        _ => {
            let (worker, task, epoch) = lease_holder(rng, model);
            Request::CommitCheck {
                worker,
                task,
                epoch,
            }
        }
    }
}

fn worker(rng: &mut SmallRng) -> WorkerId {
    *WORKERS.choose(rng).unwrap()
}

fn task(rng: &mut SmallRng) -> TaskId {
    if rng.random_bool(0.06) {
        UNKNOWN_TASK
    } else {
        *TASKS.choose(rng).unwrap()
    }
}

/// Mostly a valid lease length; sometimes 0, the maximum, or one past it.
fn ttl(rng: &mut SmallRng) -> u64 {
    match rng.random_range(0..100) {
        0..4 => 0,
        4..7 => LEASE_TTL_MS_MAX + 1,
        7..9 => LEASE_TTL_MS_MAX,
        _ => *TTLS_MS.choose(rng).unwrap(),
    }
}

/// Mostly the epoch given; sometimes one off, 0, or one no store can hold.
fn near(rng: &mut SmallRng, value: u64) -> u64 {
    match rng.random_range(0..100) {
        0..80 => value,
        80..86 => value + 1,
        86..92 => value.saturating_sub(1),
        92..97 => 0,
        _ => u64::MAX,
    }
}

fn assignee_or_any(rng: &mut SmallRng, model: &LeaseTable, task: TaskId) -> WorkerId {
    match model.assignment().0.get(&task) {
        Some(assignee) if rng.random_bool(0.75) => *assignee,
        _ => worker(rng),
    }
}

/// A (worker, task, epoch) mostly naming a held task's owner at its epoch.
fn lease_holder(rng: &mut SmallRng, model: &LeaseTable) -> (WorkerId, TaskId, Epoch) {
    let held: Vec<TaskId> = TASKS
        .iter()
        .copied()
        .filter(|t| model.task(*t).is_some_and(|lease| lease.owner.is_some()))
        .collect();
    let task = match held.choose(rng) {
        Some(task) if rng.random_bool(0.7) => *task,
        _ => task(rng),
    };
    let lease = model.task(task).cloned().unwrap_or_default();
    let worker = match lease.owner {
        Some(owner) if rng.random_bool(0.85) => owner,
        _ => worker(rng),
    };
    (worker, task, Epoch(near(rng, lease.epoch.0)))
}

fn publish(rng: &mut SmallRng, model: &LeaseTable) -> Request {
    let coordinator = model.coordinator();
    let worker = match coordinator.holder {
        Some(holder) if rng.random_bool(0.75) => holder,
        _ => worker(rng),
    };
    let mut assignment: Assignment = TASKS.iter().map(|t| (*t, self::worker(rng))).collect();
    match rng.random_range(0..100) {
        0..6 => {
            assignment.remove(TASKS.choose(rng).unwrap());
        }
        6..12 => {
            assignment.insert(UNKNOWN_TASK, self::worker(rng));
        }
        12..14 => assignment.clear(),
        _ => {}
    }
    Request::Publish {
        worker,
        epoch: Epoch(near(rng, coordinator.epoch.0)),
        based_on_version: near(rng, model.assignment().1),
        assignment,
    }
}
