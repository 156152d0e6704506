//! Self-fencing measures from when the granting request was *sent*: a grant whose answer
//! comes late leaves less of the lease, and the worker stops exactly at
//! `sent + lease_ttl_ms × (1 − ρ) − safety_margin_ms` without a newer grant. Late
//! duplicate answers are ignored.

use exactly_cluster::{
    Action, ClusterConfig, Epoch, LeaseTable, Request, RequestId, StopReason, TaskId, WorkerCore,
    WorkerId,
};

const W: WorkerId = WorkerId(1);
const T: TaskId = TaskId(0);

/// Runs the worker against the store, answering every request at once, until it starts
/// T; returns the local time of the acquire request that granted it.
fn start(worker: &mut WorkerCore, store: &mut LeaseTable) -> u64 {
    for now in (0..5_000).step_by(10) {
        worker.tick(now).expect("time moves forward");
        while let Some(action) = worker.poll_action() {
            if let Action::Send { id, request } = action {
                let response = store.serve(now, &request);
                worker
                    .on_response(now, id, response)
                    .expect("matching answer");
            } else if let Action::Start { task: T, epoch } = action {
                assert_eq!(epoch, Epoch(1));
                return now;
            }
        }
    }
    #[allow(clippy::panic)] // A test fails by panicking.
    {
        panic!("the worker never started its task")
    }
}

#[test]
fn stops_at_the_usable_end_of_the_last_grant_it_sent_for() {
    let config = ClusterConfig::default();
    let usable_ms = config.task_usable_ms();
    let mut store = LeaseTable::new(&[T]);
    let mut worker = WorkerCore::new(config, W, &[T], 0).expect("valid");
    let sent = start(&mut worker, &mut store);

    // From now on every request is lost: no renewal is ever granted.
    let mut stopped_at = None;
    let mut now = sent;
    while stopped_at.is_none() && now < sent + 10_000 {
        now += 1;
        worker.tick(now).expect("time moves forward");
        while let Some(action) = worker.poll_action() {
            if let Action::Stop {
                task: T, reason, ..
            } = action
            {
                assert_eq!(reason, StopReason::SelfFenced);
                stopped_at = Some(now);
            }
        }
    }
    assert_eq!(stopped_at, Some(sent + usable_ms));
    // The store would still have accepted its commit then: the lease outlives the fence.
    assert!(store.check_commit(sent + usable_ms, W, T, Epoch(1)).is_ok());
}

#[test]
fn a_late_grant_is_not_used_and_a_duplicate_is_ignored() {
    let config = ClusterConfig::default();
    let usable_ms = config.task_usable_ms();
    let mut worker = WorkerCore::new(config, W, &[T], 0).expect("valid");
    let mut store = LeaseTable::new(&[T]);
    let sent = start(&mut worker, &mut store);

    // Its first renewal is granted, but the answer arrives only after the fence point.
    let mut renewal: Option<(RequestId, u64)> = None;
    let mut now = sent;
    while now < sent + usable_ms + 1 {
        now += 1;
        worker.tick(now).expect("time moves forward");
        while let Some(action) = worker.poll_action() {
            if let Action::Send {
                id,
                request: request @ Request::Renew { .. },
            } = action
            {
                let response = store.serve(now, &request);
                renewal.get_or_insert((id, now));
                // Deliver it only now, a full lease later: already given up.
                let _ = response;
            }
        }
    }
    let (id, _) = renewal.expect("it renewed");
    let answer = store.serve(
        now,
        &Request::Renew {
            worker: W,
            task: T,
            epoch: Epoch(1),
            ttl_ms: 6_000,
        },
    );
    worker
        .on_response(now, id, answer.clone())
        .expect("ignored, not an error");
    worker
        .on_response(now, id, answer)
        .expect("a duplicate is ignored too");
    assert!(
        worker.running().is_empty(),
        "fenced, and the late grant did not revive it"
    );
}
