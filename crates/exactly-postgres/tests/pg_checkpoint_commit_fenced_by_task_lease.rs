//! A distributed job's task commits its checkpoints with a `LeaseFence`: the commit checks
//! the task lease in its own transaction. Worker A acquires the task (epoch 1) and commits;
//! its lease expires and worker B takes the task over (epoch 2). A's next commit — still
//! presenting epoch 1, as a paused zombie would — is refused as `NotLeased` and writes
//! nothing; B's commits go through. A commit whose lease merely expired (nobody took
//! over) is refused too: an expired lease is never revived.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::checkpoint_common;
use crate::lease_common;

use checkpoint_common::{checkpoint, pg_url, unique_schema};
use exactly_cluster::{Assignment, Epoch, Request, Response, TaskId, WorkerId};
use exactly_postgres::{EpochClaim, LeaseFence, PgLeaseStore, PostgresCheckpointStore};
use exactly_state::{CheckpointError, CheckpointStorage};
use lease_common::{store, DropSchema};

const TASK: TaskId = TaskId(0);
const JOB: &str = "bank";
const TASK_JOB: &str = "bank_accounts_0";
const COORDINATOR: WorkerId = WorkerId(100);
const A: WorkerId = WorkerId(1);
const B: WorkerId = WorkerId(2);
const SHORT_TTL_MS: u64 = 300;

fn serve(store: &mut PgLeaseStore, request: Request) -> Response {
    store.serve(&request).unwrap()
}

fn assign(store: &mut PgLeaseStore, worker: WorkerId, version: u64) -> u64 {
    let publish = Request::Publish {
        worker: COORDINATOR,
        epoch: Epoch(1),
        based_on_version: version,
        assignment: Assignment::from([(TASK, worker)]),
    };
    match serve(store, publish) {
        Response::Publish(Ok(version)) => version,
        other => panic!("publish refused: {other:?}"),
    }
}

fn acquire(store: &mut PgLeaseStore, worker: WorkerId) -> Epoch {
    let acquire = Request::Acquire {
        worker,
        task: TASK,
        ttl_ms: SHORT_TTL_MS,
    };
    match serve(store, acquire) {
        Response::Acquire(Ok(epoch)) => epoch,
        other => panic!("acquire by {worker} refused: {other:?}"),
    }
}

fn writer(url: &str, schema: &str, worker: WorkerId, epoch: Epoch) -> PostgresCheckpointStore {
    let mut config = checkpoint_common::config(url, schema, TASK_JOB);
    config.epoch = EpochClaim::Given(epoch.0);
    config.lease = Some(LeaseFence {
        schema: schema.to_string(),
        job: JOB.to_string(),
        worker,
        task: TASK,
        epoch,
    });
    PostgresCheckpointStore::connect(&config).unwrap()
}

#[test]
fn commits_need_a_live_lease_at_the_writers_epoch() {
    let url = pg_url("commits_need_a_live_lease_at_the_writers_epoch");
    let schema = unique_schema("lease_fenced_commit");
    let _drop = DropSchema {
        url: url.clone(),
        schema: schema.clone(),
    };
    let mut leases = store(&url, &schema, JOB, &[TASK]);
    let Response::Coordinate(Ok(_)) = serve(
        &mut leases,
        Request::Coordinate {
            worker: COORDINATOR,
            ttl_ms: 600_000,
        },
    ) else {
        panic!("coordinator lease refused");
    };
    let version = assign(&mut leases, A, 0);
    let epoch_a = acquire(&mut leases, A);
    assert_eq!(epoch_a, Epoch(1));
    let a = writer(&url, &schema, A, epoch_a);
    a.write(&checkpoint(1, 10)).unwrap();

    // A's lease expires; nobody has taken the task: still refused, nothing written.
    std::thread::sleep(std::time::Duration::from_millis(SHORT_TTL_MS + 100));
    match a.write(&checkpoint(2, 10)) {
        Err(CheckpointError::NotLeased { id: 2, reason, .. }) => {
            assert!(reason.contains("expired"), "{reason}");
        }
        other => panic!("an expired lease's commit went through or failed otherwise: {other:?}"),
    }

    // B takes over at epoch 2; A (a zombie still at epoch 1) is refused, B commits.
    assign(&mut leases, B, version);
    let epoch_b = acquire(&mut leases, B);
    assert_eq!(epoch_b, Epoch(2));
    let b = writer(&url, &schema, B, epoch_b);
    assert!(matches!(
        a.write(&checkpoint(2, 10)),
        Err(CheckpointError::NotLeased { .. } | CheckpointError::Fenced { .. })
    ));
    b.write(&checkpoint(2, 10)).unwrap();
    b.write(&checkpoint(3, 10)).unwrap();
    assert!(matches!(
        a.write(&checkpoint(4, 10)),
        Err(CheckpointError::NotLeased { .. } | CheckpointError::Fenced { .. })
    ));

    let listed: Vec<(u64, u64)> = checkpoint_common::reader(&url, &schema, TASK_JOB)
        .list()
        .unwrap()
        .iter()
        .map(|c| (c.id, c.epoch))
        .collect();
    assert_eq!(
        listed,
        vec![(1, 1), (2, 2), (3, 2)],
        "only the live lease holders' commits are stored"
    );
}
