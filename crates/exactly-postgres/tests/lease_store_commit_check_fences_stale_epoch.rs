//! The checkpoint commit's fence, `check_commit_in`, run inside a commit transaction that
//! then writes a row (standing in for the checkpoint pointer), by the server's clock:
//!
//! 1. after another worker took the task over, a commit at the old epoch is refused
//!    (fenced by the new epoch and owner) and writes nothing; the new owner's commit at
//!    the current epoch goes through;
//! 2. a commit that passed the check holds the task row: a takeover racing it (the lease
//!    expires meanwhile) blocks until the commit has ended, so the old epoch's commit is
//!    ordered entirely before the new epoch;
//! 3. a takeover in flight (its `UPDATE` done, its `COMMIT` held back) makes a commit
//!    check wait, and then see the new epoch: refused as fenced, nothing written.
//!
//! Never do both a commit at epoch e and a takeover to e + 1 succeed the other way round.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;
use crate::lease_common;

use exactly_cluster::{Assignment, Epoch, LeaseError, Request, Response, TaskId, WorkerId};
use exactly_postgres::{check_commit_in, CommitRefused, PgLeaseStore};
use lease_common::{store, DropSchema};
use std::time::{Duration, Instant};

const TASK: TaskId = TaskId(0);
const JOB: &str = "job";
const COORDINATOR: WorkerId = WorkerId(100);
/// Short task leases, so that they expire within the test.
const SHORT_TTL_MS: u64 = 300;

struct Cluster {
    url: String,
    schema: String,
    store: PgLeaseStore,
    version: u64,
}

impl Cluster {
    /// Assigns the task to `worker` (the coordinator's lease lasts the whole test).
    fn assign_to(&mut self, worker: WorkerId) {
        let publish = Request::Publish {
            worker: COORDINATOR,
            epoch: Epoch(1),
            based_on_version: self.version,
            assignment: Assignment::from([(TASK, worker)]),
        };
        let Response::Publish(Ok(version)) = self.store.serve(&publish).unwrap() else {
            panic!("publish refused");
        };
        self.version = version;
    }

    fn acquire(&mut self, worker: WorkerId, ttl_ms: u64) -> Epoch {
        let acquire = Request::Acquire {
            worker,
            task: TASK,
            ttl_ms,
        };
        match self.store.serve(&acquire).unwrap() {
            Response::Acquire(Ok(epoch)) => epoch,
            other => panic!("acquire by {worker} refused: {other:?}"),
        }
    }

    /// A commit transaction: the fence, then its write, then `COMMIT`; `hold` is spent
    /// between the check and the write.
    fn commit(&self, worker: WorkerId, epoch: Epoch, hold: Duration) -> Result<(), CommitRefused> {
        commit(&self.url, &self.schema, worker, epoch, hold, &|| {}).map(|_| ())
    }

    /// The commits written: (epoch, worker), in commit order.
    fn commits(&self) -> Vec<(i64, i64)> {
        let mut client = postgres::Client::connect(&self.url, postgres::NoTls).unwrap();
        client
            .query(
                &format!(
                    "SELECT epoch, worker FROM {}.commits ORDER BY seq",
                    self.schema
                ),
                &[],
            )
            .unwrap()
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect()
    }
}

fn commit(
    url: &str,
    schema: &str,
    worker: WorkerId,
    epoch: Epoch,
    hold: Duration,
    after_check: &dyn Fn(),
) -> Result<Instant, CommitRefused> {
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    let mut tx = client.transaction().unwrap();
    check_commit_in(&mut tx, schema, JOB, worker, TASK, epoch)?;
    after_check();
    std::thread::sleep(hold);
    tx.execute(
        &format!("INSERT INTO {schema}.commits (epoch, worker) VALUES ($1, $2)"),
        &[&(epoch.0 as i64), &(worker.0 as i64)],
    )
    .unwrap();
    // Taken before COMMIT is sent: the row lock is released only by the COMMIT, so a
    // takeover waiting on it is granted after this instant (a timestamp taken after
    // `commit()` returns could come after the waiter's, by thread scheduling alone).
    let commit_sent = Instant::now();
    tx.commit().unwrap();
    Ok(commit_sent)
}

fn fenced(result: Result<(), CommitRefused>) -> (Epoch, Option<WorkerId>) {
    match result {
        Err(CommitRefused::Lease(LeaseError::Fenced { current, owner, .. })) => (current, owner),
        other => panic!("expected a fenced commit, got {other:?}"),
    }
}

#[test]
fn commit_check_fences_stale_epochs_and_orders_takeovers() {
    let Some(url) = common::pg_or_skip("lease_store_commit_check_fences_stale_epoch") else {
        return;
    };
    let schema = common::unique_schema("lease_fence");
    let _drop = DropSchema {
        url: url.clone(),
        schema: schema.clone(),
    };
    let store = store(&url, &schema, JOB, &[TASK]);
    let mut setup = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    setup
        .batch_execute(&format!(
            "CREATE TABLE {schema}.commits (seq bigserial PRIMARY KEY, epoch bigint, worker bigint)"
        ))
        .unwrap();
    let mut cluster = Cluster {
        url: url.clone(),
        schema,
        store,
        version: 0,
    };
    let coordinate = Request::Coordinate {
        worker: COORDINATOR,
        ttl_ms: 600_000,
    };
    assert!(matches!(
        cluster.store.serve(&coordinate).unwrap(),
        Response::Coordinate(Ok(_))
    ));
    stale_epoch_is_refused(&mut cluster);
    takeover_waits_for_a_commit_in_progress(&mut cluster);
    commit_waits_for_a_takeover_in_flight(&mut cluster);
}

/// Scenario 1.
fn stale_epoch_is_refused(cluster: &mut Cluster) {
    let (a, b) = (WorkerId(1), WorkerId(2));
    cluster.assign_to(a);
    let first = cluster.acquire(a, SHORT_TTL_MS);
    assert_eq!(first, Epoch(1));
    cluster.commit(a, first, Duration::ZERO).unwrap();
    std::thread::sleep(Duration::from_millis(SHORT_TTL_MS + 50));
    cluster.assign_to(b);
    let second = cluster.acquire(b, SHORT_TTL_MS);
    assert_eq!(second, Epoch(2));
    assert_eq!(
        fenced(cluster.commit(a, first, Duration::ZERO)),
        (second, Some(b))
    );
    // The right epoch is not enough: it is B's.
    assert_eq!(
        fenced(cluster.commit(a, second, Duration::ZERO)),
        (second, Some(b))
    );
    cluster.commit(b, second, Duration::ZERO).unwrap();
    assert_eq!(cluster.commits(), vec![(1, 1), (2, 2)]);
}

/// Scenario 2: B (epoch 2) passes the check and holds its transaction open past its
/// lease's expiry; C's takeover must wait for B's commit.
fn takeover_waits_for_a_commit_in_progress(cluster: &mut Cluster) {
    let (b, c) = (WorkerId(2), WorkerId(3));
    let hold = Duration::from_millis(SHORT_TTL_MS + 500);
    let (url, schema) = (cluster.url.clone(), cluster.schema.clone());
    let (checked_tx, checked_rx) = std::sync::mpsc::channel();
    let renew = Request::Renew {
        worker: b,
        task: TASK,
        epoch: Epoch(2),
        ttl_ms: SHORT_TTL_MS,
    };
    assert_eq!(
        cluster.store.serve(&renew).unwrap(),
        Response::Renew(Ok(()))
    );
    let committer = std::thread::spawn(move || {
        // The check passes (B's lease is live), then the row stays locked for `hold`.
        commit(&url, &schema, b, Epoch(2), hold, &|| {
            checked_tx.send(()).unwrap()
        })
        .unwrap()
    });
    checked_rx.recv().unwrap();
    // B's lease (acquired < SHORT_TTL_MS ago) expires by store time while B still commits.
    std::thread::sleep(Duration::from_millis(SHORT_TTL_MS + 100));
    cluster.assign_to(c);
    let asked = Instant::now();
    let third = cluster.acquire(c, SHORT_TTL_MS);
    let granted = Instant::now();
    let committed = committer.join().unwrap();
    assert_eq!(third, Epoch(3));
    assert!(
        granted >= committed,
        "the takeover was granted before the old epoch's commit ended"
    );
    println!(
        "takeover waited {:?} for the commit in progress",
        granted.duration_since(asked)
    );
    assert!(granted.duration_since(asked) >= Duration::from_millis(100));
    assert_eq!(cluster.commits(), vec![(1, 1), (2, 2), (2, 2)]);
}

/// Scenario 3: D's takeover has updated the row but holds its COMMIT back; C's commit
/// check at epoch 3 waits for it and then sees epoch 4.
fn commit_waits_for_a_takeover_in_flight(cluster: &mut Cluster) {
    let (c, d) = (WorkerId(3), WorkerId(4));
    std::thread::sleep(Duration::from_millis(SHORT_TTL_MS + 50));
    cluster.assign_to(d);
    let mut taker = store(&cluster.url, &cluster.schema, JOB, &[TASK]);
    let (updated_tx, updated_rx) = std::sync::mpsc::channel();
    taker.set_before_commit(Some(Box::new(move |_pid| {
        updated_tx.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(500));
    })));
    let takeover = std::thread::spawn(move || {
        let acquire = Request::Acquire {
            worker: d,
            task: TASK,
            ttl_ms: 60_000,
        };
        taker.serve(&acquire).unwrap()
    });
    updated_rx.recv().unwrap();
    let asked = Instant::now();
    let refused = cluster.commit(c, Epoch(3), Duration::ZERO);
    let waited = asked.elapsed();
    assert_eq!(takeover.join().unwrap(), Response::Acquire(Ok(Epoch(4))));
    assert_eq!(fenced(refused), (Epoch(4), Some(d)));
    println!("commit check waited {waited:?} for the takeover in flight, then was fenced");
    assert!(waited >= Duration::from_millis(300));
    assert_eq!(cluster.commits(), vec![(1, 1), (2, 2), (2, 2)]);
    cluster.commit(d, Epoch(4), Duration::ZERO).unwrap();
    assert_eq!(cluster.commits().last(), Some(&(4, 4)));
}
