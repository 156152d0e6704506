//! Racing requests, each thread on its own connection, released at once by a barrier, for
//! many rounds; each round at a store time after the previous round's leases expired.
//!
//! - Four workers bid for the expired coordinator lease: exactly one wins per round, at
//!   the next epoch; the others are refused with the winner's epoch. Epochs never repeat.
//! - One task: four duplicated acquires of its assignee (one request delivered through
//!   four connections) race a late renewal and a late commit check of the previous epoch:
//!   the epoch rises by exactly one per round (one takeover; the others extend it), every
//!   acquire answers that epoch, and the late renewal and commit check are refused.
//!
//! Every round's answers must also be what the model gives for *some* order of the same
//! requests, ending in the state read back: the store serialized them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;
use crate::lease_common;

use exactly_cluster::{
    Assignment, CoordinatorError, Epoch, LeaseTable, Request, Response, TaskId, WorkerId,
};
use exactly_postgres::{PgLeaseStore, StoreClock};
use lease_common::{store, DropSchema};
use std::sync::{Barrier, Mutex};

const ROUNDS: u64 = 40;
const ROUND_MS: u64 = 1_000;
const TTL_MS: u64 = 500;
const START_MS: u64 = 1_700_000_000_000;
const TASK: TaskId = TaskId(3);

fn round_ms(round: u64) -> u64 {
    START_MS + round * ROUND_MS
}

#[test]
fn racing_bids_for_the_coordinator_lease_have_one_winner_per_epoch() {
    let Some(url) = common::pg_or_skip("lease_store_racing_acquires_one_winner") else {
        return;
    };
    let schema = common::unique_schema("lease_race_coord");
    let _drop = DropSchema {
        url: url.clone(),
        schema: schema.clone(),
    };
    let requests: Vec<Request> = (1..=4)
        .map(|w| Request::Coordinate {
            worker: WorkerId(w),
            ttl_ms: TTL_MS,
        })
        .collect();
    let mut model = LeaseTable::new(&[TASK]);
    let mut main = store(&url, &schema, "job", &[TASK]);
    let mut winners = Vec::new();
    race(&url, &schema, &requests, |round, answers| {
        let granted: Vec<(usize, Epoch)> = answers
            .iter()
            .enumerate()
            .filter_map(|(i, a)| match a {
                Response::Coordinate(Ok(grant)) => Some((i, grant.epoch)),
                _ => None,
            })
            .collect();
        assert_eq!(
            granted.len(),
            1,
            "round {round}: winners {granted:?} of {answers:?}"
        );
        let (winner, epoch) = granted[0];
        assert_eq!(epoch, Epoch(round + 1), "round {round}: epochs rise by one");
        for answer in answers {
            if let Response::Coordinate(Err(refusal)) = answer {
                let held = CoordinatorError::Held {
                    holder: WorkerId(winner as u64 + 1),
                    epoch,
                };
                assert_eq!(*refusal, held, "round {round}");
            }
        }
        winners.push(winner);
        model = serialized(
            &model,
            round_ms(round),
            &requests,
            answers,
            &mut main,
            round,
        );
    });
    let distinct: std::collections::BTreeSet<_> = winners.iter().collect();
    println!(
        "coordinator: {ROUNDS} rounds, winners {winners:?} ({} distinct)",
        distinct.len()
    );
}

#[test]
fn racing_acquires_of_an_expired_task_take_it_over_once() {
    let Some(url) = common::pg_or_skip("lease_store_racing_acquires_one_winner") else {
        return;
    };
    let schema = common::unique_schema("lease_race_task");
    let _drop = DropSchema {
        url: url.clone(),
        schema: schema.clone(),
    };
    let owner = WorkerId(1);
    let mut main = store(&url, &schema, "job", &[TASK]);
    let mut model = LeaseTable::new(&[TASK]);
    // Worker 1 coordinates for the whole test and assigns the task to itself.
    let setup = [
        Request::Coordinate {
            worker: owner,
            ttl_ms: 3_600_000,
        },
        Request::Publish {
            worker: owner,
            epoch: Epoch(1),
            based_on_version: 0,
            assignment: Assignment::from([(TASK, owner)]),
        },
    ];
    main.set_clock(StoreClock::Fixed(START_MS - 1)).unwrap();
    for request in &setup {
        let answer = main.serve(request).unwrap();
        assert_eq!(answer, model.serve(START_MS - 1, request));
    }
    let acquire = Request::Acquire {
        worker: owner,
        task: TASK,
        ttl_ms: TTL_MS,
    };
    race_rounds_of_task(&url, &schema, &mut main, &mut model, &acquire);
}

fn race_rounds_of_task(
    url: &str,
    schema: &str,
    main: &mut PgLeaseStore,
    model: &mut LeaseTable,
    acquire: &Request,
) {
    let owner = WorkerId(1);
    // The late requests of the previous epoch are rebuilt each round; the racing threads
    // read them from here.
    let previous = Mutex::new(Epoch(0));
    let requests_of = |epoch: Epoch| -> Vec<Request> {
        let mut requests = vec![acquire.clone(); 4];
        requests.push(Request::Renew {
            worker: owner,
            task: TASK,
            epoch,
            ttl_ms: TTL_MS,
        });
        requests.push(Request::CommitCheck {
            worker: owner,
            task: TASK,
            epoch,
        });
        requests
    };
    race_with(
        url,
        schema,
        6,
        |_, i| requests_of(*previous.lock().unwrap())[i].clone(),
        |round, answers| {
            let epoch = Epoch(round + 1);
            for answer in &answers[..4] {
                assert_eq!(
                    *answer,
                    Response::Acquire(Ok(epoch)),
                    "round {round}: {answers:?}"
                );
            }
            assert!(
                matches!(answers[4], Response::Renew(Err(_))),
                "round {round}: a late renewal was granted: {answers:?}"
            );
            assert!(
                matches!(answers[5], Response::CommitCheck(Err(_))),
                "round {round}: a late commit was accepted: {answers:?}"
            );
            let requests = requests_of(*previous.lock().unwrap());
            *model = serialized(model, round_ms(round), &requests, answers, main, round);
            assert_eq!(model.task(TASK).unwrap().epoch, epoch);
            *previous.lock().unwrap() = epoch;
        },
    );
    println!("task: {ROUNDS} rounds, one takeover each, epochs 1..={ROUNDS}");
}

/// Runs `requests[i]` on thread `i` in every round (see [`race_with`]).
fn race(url: &str, schema: &str, requests: &[Request], check: impl FnMut(u64, &[Response])) {
    race_with(
        url,
        schema,
        requests.len(),
        |_, i| requests[i].clone(),
        check,
    );
}

/// Each round: every thread (its own store) sets the round's clock, waits at the barrier,
/// serves its request; then `check` sees the answers, in thread order, before the next
/// round starts.
fn race_with(
    url: &str,
    schema: &str,
    threads: usize,
    request: impl Fn(u64, usize) -> Request + Sync,
    mut check: impl FnMut(u64, &[Response]),
) {
    let start = Barrier::new(threads + 1);
    let done = Barrier::new(threads + 1);
    let answers = Mutex::new(vec![None; threads]);
    std::thread::scope(|scope| {
        for i in 0..threads {
            let (start, done, answers, request) = (&start, &done, &answers, &request);
            scope.spawn(move || {
                let mut store = store(url, schema, "job", &[TASK]);
                for round in 0..ROUNDS {
                    store.set_clock(StoreClock::Fixed(round_ms(round))).unwrap();
                    start.wait();
                    // Built after the barrier: it may depend on the previous round's check.
                    let request = request(round, i);
                    let answer = store.serve(&request).unwrap();
                    answers.lock().unwrap()[i] = Some(answer);
                    done.wait();
                }
            });
        }
        for round in 0..ROUNDS {
            start.wait();
            done.wait();
            let round_answers: Vec<Response> = answers
                .lock()
                .unwrap()
                .iter_mut()
                .map(|a| a.take().unwrap())
                .collect();
            check(round, &round_answers);
        }
    });
}

/// The model after serving `requests` at `now_ms` in an order that gives exactly
/// `answers`; panics if no order does, or if it does not end in the stored state.
fn serialized(
    model: &LeaseTable,
    now_ms: u64,
    requests: &[Request],
    answers: &[Response],
    main: &mut PgLeaseStore,
    round: u64,
) -> LeaseTable {
    let stored = main.snapshot().unwrap();
    let pending: Vec<usize> = (0..requests.len()).collect();
    match some_order(model, now_ms, requests, answers, &pending, &stored) {
        Some(after) => after,
        None => panic!("round {round}: no order of {requests:?} gives {answers:?} and the stored state {stored:?}"),
    }
}

fn some_order(
    model: &LeaseTable,
    now_ms: u64,
    requests: &[Request],
    answers: &[Response],
    pending: &[usize],
    stored: &LeaseTable,
) -> Option<LeaseTable> {
    if pending.is_empty() {
        return (model == stored).then(|| model.clone());
    }
    for (at, i) in pending.iter().enumerate() {
        let mut next = model.clone();
        if next.serve(now_ms, &requests[*i]) != answers[*i] {
            continue;
        }
        let mut rest = pending.to_vec();
        rest.remove(at);
        if let Some(after) = some_order(&next, now_ms, requests, answers, &rest, stored) {
            return Some(after);
        }
    }
    None
}
