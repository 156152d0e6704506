//! The store's rules, operation by operation: acquire needs the assignment and a free
//! lease and raises the epoch; the owner's repeated acquire keeps it; renew, release and
//! the commit check accept only the current epoch's owner of a live lease; publish is
//! fenced by the coordinator epoch and the version.

use exactly_cluster::{
    Assignment, CoordinatorError, Epoch, LeaseError, LeaseTable, PublishError, TaskId, WorkerId,
};

const A: WorkerId = WorkerId(1);
const B: WorkerId = WorkerId(2);
const T: TaskId = TaskId(0);

fn table_assigning_t_to(worker: WorkerId) -> LeaseTable {
    let mut table = LeaseTable::new(&[T]);
    let grant = table
        .coordinate(0, worker, 4_000)
        .expect("a fresh table has no coordinator");
    let assignment: Assignment = [(T, worker)].into();
    table
        .publish(0, worker, grant.epoch, 0, &assignment)
        .expect("the coordinator publishes");
    table
}

#[test]
fn acquire_renew_commit_and_takeover_after_expiry() {
    let mut table = table_assigning_t_to(A);
    assert!(matches!(
        table.acquire(0, B, T, 6_000),
        Err(LeaseError::NotAssigned { .. })
    ));
    assert_eq!(table.acquire(10, A, T, 6_000), Ok(Epoch(1)));
    assert_eq!(
        table.acquire(20, A, T, 6_000),
        Ok(Epoch(1)),
        "retry keeps the epoch"
    );
    assert_eq!(table.renew(2_000, A, T, Epoch(1), 6_000), Ok(()));
    assert_eq!(table.check_commit(7_999, A, T, Epoch(1)), Ok(()));
    assert!(matches!(
        table.check_commit(8_000, A, T, Epoch(1)),
        Err(LeaseError::Expired { .. })
    ));
    assert!(matches!(
        table.renew(8_000, A, T, Epoch(1), 6_000),
        Err(LeaseError::Expired { .. })
    ));

    // B is coordinator once A's coordinator lease expired, and moves T to itself.
    let grant = table
        .coordinate(9_000, B, 4_000)
        .expect("A's lease expired");
    assert_eq!(
        grant.epoch,
        Epoch(2),
        "a takeover raises the coordinator epoch"
    );
    let moved: Assignment = [(T, B)].into();
    assert_eq!(table.publish(9_000, B, Epoch(2), 1, &moved), Ok(2));
    assert_eq!(table.acquire(9_000, B, T, 6_000), Ok(Epoch(2)));
    assert!(matches!(
        table.check_commit(9_001, A, T, Epoch(1)),
        Err(LeaseError::Fenced { .. })
    ));
    assert_eq!(table.check_commit(9_001, B, T, Epoch(2)), Ok(()));
}

#[test]
fn handover_by_release_needs_no_expiry() {
    let mut table = table_assigning_t_to(A);
    assert_eq!(table.acquire(0, A, T, 6_000), Ok(Epoch(1)));
    let moved: Assignment = [(T, B)].into();
    let epoch = table.coordinator().epoch;
    assert_eq!(table.publish(100, A, epoch, 1, &moved), Ok(2));
    assert!(matches!(
        table.acquire(100, B, T, 6_000),
        Err(LeaseError::Held { owner: A, .. })
    ));
    assert_eq!(table.release(200, A, T, Epoch(1)), Ok(()));
    assert_eq!(
        table.release(201, A, T, Epoch(1)),
        Ok(()),
        "repeating changes nothing"
    );
    assert!(matches!(
        table.check_commit(202, A, T, Epoch(1)),
        Err(LeaseError::Released { .. })
    ));
    assert_eq!(table.acquire(300, B, T, 6_000), Ok(Epoch(2)));
    assert!(matches!(
        table.release(301, A, T, Epoch(1)),
        Err(LeaseError::Fenced { .. })
    ));
}

#[test]
fn publish_is_fenced_and_must_cover_the_job() {
    let mut table = table_assigning_t_to(A);
    assert!(matches!(
        table.coordinate(1_000, B, 4_000),
        Err(CoordinatorError::Held { holder: A, .. })
    ));
    let moved: Assignment = [(T, B)].into();
    assert!(matches!(
        table.publish(1_000, B, Epoch(1), 1, &moved),
        Err(PublishError::NotCoordinator { .. })
    ));
    assert!(matches!(
        table.publish(1_000, A, Epoch(1), 0, &moved),
        Err(PublishError::VersionMoved { current: 1, .. })
    ));
    assert!(matches!(
        table.publish(1_000, A, Epoch(1), 1, &Assignment::new()),
        Err(PublishError::MissingTask { task: T })
    ));
    assert!(matches!(
        table.acquire(0, A, T, 0),
        Err(LeaseError::TtlOutOfRange { ttl_ms: 0 })
    ));
}
