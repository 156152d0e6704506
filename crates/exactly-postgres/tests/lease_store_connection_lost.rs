//! The store's backend is terminated (`pg_terminate_backend` from a second connection, what
//! a server crash or a cut network does to the client), and the state must stay what the
//! model says — never half an operation:
//!
//! 1. between two requests: the next request reconnects per the policy and is answered as
//!    the model answers; with a policy of one attempt it fails as a transient
//!    `ConnectionLost` (certainly not applied), and the request after it reconnects;
//! 2. right before `COMMIT` of a granted request: `ConnectionLost` with the outcome
//!    unknown; the state is the model's before or after the request — in practice before —
//!    and sending the request again is answered as the model answers;
//! 3. while a request waits on a row lock: the statement fails before `COMMIT`, so the store
//!    reconnects and runs the request again, which is answered as the model answers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;
use crate::lease_common;

use exactly_cluster::{Assignment, Epoch, LeaseTable, Request, Response, TaskId, WorkerId};
use exactly_postgres::{LeaseStoreError, PgLeaseStore, StoreClock};
use lease_common::{config, terminate, DropSchema};
use std::time::Duration;

const TASKS: [TaskId; 2] = [TaskId(0), TaskId(1)];
const W: WorkerId = WorkerId(9);
const NOW_MS: u64 = 1_700_000_000_000;

/// A store and the model, served the same requests at the same fixed time.
struct Pair {
    store: PgLeaseStore,
    model: LeaseTable,
    now_ms: u64,
}

impl Pair {
    fn tick(&mut self, step_ms: u64) {
        self.now_ms += step_ms;
        self.store
            .set_clock(StoreClock::Fixed(self.now_ms))
            .unwrap();
    }

    /// Serves `request` to both; the answers and the states must be equal.
    fn serve(&mut self, request: &Request) -> Response {
        let got = self.store.serve(request).unwrap();
        assert_eq!(got, self.model.serve(self.now_ms, request), "{request:?}");
        self.assert_same_state();
        got
    }

    fn assert_same_state(&mut self) {
        assert_eq!(self.store.snapshot().unwrap(), self.model);
    }
}

fn setup() -> [Request; 3] {
    [
        Request::Heartbeat {
            worker: W,
            member_ttl_ms: 4_000,
        },
        Request::Coordinate {
            worker: W,
            ttl_ms: 60_000,
        },
        Request::Publish {
            worker: W,
            epoch: Epoch(1),
            based_on_version: 0,
            assignment: Assignment::from([(TASKS[0], W), (TASKS[1], W)]),
        },
    ]
}

fn acquire(task: TaskId) -> Request {
    Request::Acquire {
        worker: W,
        task,
        ttl_ms: 6_000,
    }
}

fn pair(url: &str, schema: &str, job: &str, attempts_max: u32) -> Pair {
    let mut config = config(url, schema, job, &TASKS);
    config.reconnect.attempts_max = attempts_max;
    config.clock = StoreClock::Fixed(NOW_MS);
    let mut pair = Pair {
        store: PgLeaseStore::connect(&config).unwrap(),
        model: LeaseTable::new(&TASKS),
        now_ms: NOW_MS,
    };
    for request in setup() {
        pair.serve(&request);
    }
    pair
}

#[test]
fn connection_lost_between_and_during_requests_leaves_the_model_state() {
    let Some(url) = common::pg_or_skip("lease_store_connection_lost") else {
        return;
    };
    let schema = common::unique_schema("lease_cut");
    let _drop = DropSchema {
        url: url.clone(),
        schema: schema.clone(),
    };
    lost_between_requests(&url, &schema);
    lost_right_before_commit(&url, &schema);
    lost_while_waiting_on_a_lock(&url, &schema);
}

/// Scenario 1.
fn lost_between_requests(url: &str, schema: &str) {
    let mut patient = pair(url, schema, "between", 5);
    terminate(url, patient.store.backend_pid().unwrap());
    patient.tick(100);
    // Reconnected and run once, transparently.
    assert_eq!(
        patient.serve(&acquire(TASKS[0])),
        Response::Acquire(Ok(Epoch(1)))
    );

    let mut impatient = pair(url, schema, "between_once", 1);
    terminate(url, impatient.store.backend_pid().unwrap());
    impatient.tick(100);
    match impatient.store.serve(&acquire(TASKS[0])) {
        Err(
            error @ LeaseStoreError::ConnectionLost {
                outcome_unknown: false,
                ..
            },
        ) => {
            assert!(error.is_transient());
            assert!(
                !error.to_string().contains("user="),
                "the URL leaked: {error}"
            );
            println!("one attempt: {error}");
        }
        other => panic!("expected a lost connection, got {other:?}"),
    }
    // Certainly not applied: the state is the model's, which did not see the request.
    impatient.assert_same_state();
    assert_eq!(
        impatient.serve(&acquire(TASKS[0])),
        Response::Acquire(Ok(Epoch(1)))
    );
}

/// Scenario 2.
fn lost_right_before_commit(url: &str, schema: &str) {
    let mut cut = pair(url, schema, "at_commit", 5);
    let killer_url = url.to_string();
    cut.store.set_before_commit(Some(Box::new(move |pid| {
        terminate(&killer_url, pid);
    })));
    cut.tick(100);
    let before = cut.model.clone();
    let request = acquire(TASKS[1]);
    match cut.store.serve(&request) {
        Err(
            error @ LeaseStoreError::ConnectionLost {
                outcome_unknown: true,
                ..
            },
        ) => {
            assert!(error.is_transient());
            println!("at commit: {error}");
        }
        other => panic!("expected a lost COMMIT, got {other:?}"),
    }
    cut.store.set_before_commit(None);
    let mut after = before.clone();
    after.serve(cut.now_ms, &request);
    let stored = cut.store.snapshot().unwrap();
    if stored == before {
        println!("the cut COMMIT did not apply");
    } else {
        assert_eq!(stored, after, "half an acquire was applied");
        println!("the cut COMMIT applied");
        cut.model = after;
    }
    // The worker retries (its answer was lost): answered as the model answers.
    cut.tick(100);
    assert_eq!(cut.serve(&request), Response::Acquire(Ok(Epoch(1))));
    // A refusal writes nothing and needs no COMMIT: the hook does not run for it.
    let renew_stale = Request::Renew {
        worker: W,
        task: TASKS[1],
        epoch: Epoch(7),
        ttl_ms: 6_000,
    };
    cut.serve(&renew_stale);
}

/// Scenario 3.
fn lost_while_waiting_on_a_lock(url: &str, schema: &str) {
    let mut waiting = pair(url, schema, "waiting", 5);
    waiting.tick(100);
    let pid = waiting.store.backend_pid().unwrap();
    let mut blocker = postgres::Client::connect(url, postgres::NoTls).unwrap();
    let mut lock = blocker.transaction().unwrap();
    lock.execute(
        &format!(
            "SELECT 1 FROM {schema}.cluster_tasks WHERE job = 'waiting' AND task = 0 FOR UPDATE"
        ),
        &[],
    )
    .unwrap();
    let request = acquire(TASKS[0]);
    let server = std::thread::spawn(move || {
        let answer = waiting.store.serve(&request).unwrap();
        (waiting, request, answer)
    });
    wait_until_blocked(url, pid);
    terminate(url, pid);
    std::thread::sleep(Duration::from_millis(200));
    lock.rollback().unwrap();
    let (mut waiting, request, answer) = server.join().unwrap();
    assert_eq!(answer, waiting.model.serve(waiting.now_ms, &request));
    assert_eq!(answer, Response::Acquire(Ok(Epoch(1))));
    waiting.assert_same_state();
    assert_ne!(waiting.store.backend_pid().unwrap(), pid, "it reconnected");
}

/// Waits until backend `pid` waits on a lock.
fn wait_until_blocked(url: &str, pid: i32) {
    let mut watcher = postgres::Client::connect(url, postgres::NoTls).unwrap();
    for _ in 0..500 {
        let waiting: bool = watcher
            .query_one(
                "SELECT coalesce(bool_or(wait_event_type = 'Lock'), false)
                 FROM pg_stat_activity WHERE pid = $1",
                &[&pid],
            )
            .unwrap()
            .get(0);
        if waiting {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("backend {pid} never waited on the lock");
}
