//! Each `exactly_cluster::Request` as SQL inside one transaction, answering exactly the
//! `Response` `LeaseTable::serve` gives for the same state and `now_ms`.
//!
//! **Isolation.** Transactions run at `READ COMMITTED`, and every operation first locks
//! the rows its decision depends on, then reads the clock, then decides:
//! - the job row: `FOR SHARE` by heartbeat, acquire and forgetting members (they read the
//!   assignment or the coordinator lease, or change membership), `FOR UPDATE` by
//!   coordinate and publish (they change it, and coordinate reads the membership, which
//!   only changes under the job row's share lock);
//! - the task row: `FOR UPDATE` by acquire, renew and release; `FOR SHARE` by the commit
//!   check.
//!
//! Locks are held to the end of the transaction, always job row before task or member
//! row, so conflicting operations run one after another in lock order and each sees the
//! state its predecessor committed — the model applied in that order, with a clock read
//! after the predecessor's commit (so `now_ms` never goes back along a chain of
//! conflicting operations). Operations on different tasks still run side by side.
//!
//! **Decisions** are the conditional `UPDATE`s of `docs/cluster.md`; when one matches no
//! row, the refusal is explained from the row read (and locked) before, checking in the
//! model's order. An `UPDATE` and its explanation disagreeing is reported as bad data.
//!
//! Heartbeat, coordinate, publish and forgetting members are here; the task-lease
//! operations (acquire, renew, release, commit check) in `lease_task_ops.rs`.

use crate::lease_error::Failure;
use crate::lease_schema::{
    bits_sql, non_negative, read_assignment, read_job, read_now, task_sql, worker_sql,
};
use crate::lease_scope::{disagree, sql_ms, ttl_ok, Scope};
use crate::lease_task_ops::{acquire, commit_check, release, renew};
use exactly_cluster::{
    Assignment, CoordinatorError, CoordinatorGrant, Epoch, HeartbeatReply, MemberError,
    PublishError, Request, Response, TaskId, WorkerId,
};
use postgres::Transaction;
use std::collections::BTreeSet;

/// Runs `request` in `tx` (not committed here).
pub(crate) fn serve_in(
    tx: &mut Transaction<'_>,
    scope: Scope<'_>,
    request: &Request,
) -> Result<Response, Failure> {
    Ok(match request {
        Request::Heartbeat {
            worker,
            member_ttl_ms,
        } => Response::Heartbeat(heartbeat(tx, scope, *worker, *member_ttl_ms)?),
        Request::Coordinate { worker, ttl_ms } => {
            Response::Coordinate(coordinate(tx, scope, *worker, *ttl_ms)?)
        }
        Request::Publish {
            worker,
            epoch,
            based_on_version,
            assignment,
        } => Response::Publish(publish(
            tx,
            scope,
            *worker,
            *epoch,
            *based_on_version,
            assignment,
        )?),
        Request::Acquire {
            worker,
            task,
            ttl_ms,
        } => Response::Acquire(acquire(tx, scope, *worker, *task, *ttl_ms)?),
        Request::Renew {
            worker,
            task,
            epoch,
            ttl_ms,
        } => Response::Renew(renew(tx, scope, *worker, *task, *epoch, *ttl_ms)?),
        Request::Release {
            worker,
            task,
            epoch,
        } => Response::Release(release(tx, scope, *worker, *task, *epoch)?),
        Request::CommitCheck {
            worker,
            task,
            epoch,
        } => Response::CommitCheck(commit_check(tx, scope, *worker, *task, *epoch)?),
    })
}

fn heartbeat(
    tx: &mut Transaction<'_>,
    scope: Scope<'_>,
    worker: WorkerId,
    ttl_ms: u64,
) -> Result<Result<HeartbeatReply, MemberError>, Failure> {
    if !ttl_ok(ttl_ms) {
        return Ok(Err(MemberError::TtlOutOfRange { ttl_ms }));
    }
    let (coordinator, version) = read_job(tx, scope.tables, scope.job, "FOR SHARE")?;
    let now_ms = read_now(tx, scope.fixed_ms)?;
    tx.execute(
        &format!(
            "INSERT INTO {members} AS m (job, worker, expires_ms) VALUES ($1, $2, $3::bigint + $4::bigint)
             ON CONFLICT (job, worker) DO UPDATE
               SET expires_ms = GREATEST(m.expires_ms, EXCLUDED.expires_ms)",
            members = scope.tables.members
        ),
        &[&scope.job, &worker_sql(worker), &sql_ms(now_ms)?, &sql_ms(ttl_ms)?],
    )?;
    let assignment = read_assignment(tx, scope.tables, scope.job)?;
    Ok(Ok(HeartbeatReply {
        assignment_version: version,
        assigned: assignment
            .iter()
            .filter(|(_, assignee)| **assignee == worker)
            .map(|(task, _)| *task)
            .collect(),
        coordinator_live: coordinator.holder.is_some() && now_ms < coordinator.expires_at_ms,
    }))
}

fn coordinate(
    tx: &mut Transaction<'_>,
    scope: Scope<'_>,
    worker: WorkerId,
    ttl_ms: u64,
) -> Result<Result<CoordinatorGrant, CoordinatorError>, Failure> {
    if !ttl_ok(ttl_ms) {
        return Ok(Err(CoordinatorError::TtlOutOfRange { ttl_ms }));
    }
    let (before, _) = read_job(tx, scope.tables, scope.job, "FOR UPDATE")?;
    let now_ms = read_now(tx, scope.fixed_ms)?;
    let (now, ttl, w) = (sql_ms(now_ms)?, sql_ms(ttl_ms)?, worker_sql(worker));
    // Renew when the caller holds the live lease; otherwise take it over at epoch + 1
    // (free, expired, or the caller's own expired lease); no row while another's is live.
    let granted = tx.query_opt(
        &format!(
            "UPDATE {jobs} SET
                 coordinator_epoch = CASE WHEN coordinator = $2 AND $3 < coordinator_expires_ms
                     THEN coordinator_epoch ELSE coordinator_epoch + 1 END,
                 coordinator_expires_ms = CASE WHEN coordinator = $2 AND $3 < coordinator_expires_ms
                     THEN GREATEST(coordinator_expires_ms, $3::bigint + $4::bigint) ELSE $3::bigint + $4::bigint END,
                 coordinator = $2
             WHERE job = $1
               AND (coordinator IS NULL OR coordinator = $2 OR coordinator_expires_ms <= $3)
             RETURNING coordinator_epoch, assignment_version",
            jobs = scope.tables.jobs
        ),
        &[&scope.job, &w, &now, &ttl],
    )?;
    let Some(granted) = granted else {
        return match before.holder {
            Some(holder) if holder != worker && now_ms < before.expires_at_ms => {
                Ok(Err(CoordinatorError::Held {
                    holder,
                    epoch: before.epoch,
                }))
            }
            _ => Err(disagree("coordinate refused a lease that is free to take")),
        };
    };
    let epoch = Epoch(non_negative(
        granted.try_get(0)?,
        "cluster_jobs",
        "coordinator_epoch",
    )?);
    let version = non_negative(granted.try_get(1)?, "cluster_jobs", "assignment_version")?;
    let rows = tx.query(
        &format!(
            "SELECT worker FROM {} WHERE job = $1 AND $2 < expires_ms",
            scope.tables.members
        ),
        &[&scope.job, &now],
    )?;
    let mut members = BTreeSet::new();
    for row in &rows {
        members.insert(crate::lease_schema::worker_from_sql(row.try_get(0)?));
    }
    Ok(Ok(CoordinatorGrant {
        epoch,
        members,
        assignment: read_assignment(tx, scope.tables, scope.job)?,
        assignment_version: version,
    }))
}

fn publish(
    tx: &mut Transaction<'_>,
    scope: Scope<'_>,
    worker: WorkerId,
    epoch: Epoch,
    based_on: u64,
    assignment: &Assignment,
) -> Result<Result<u64, PublishError>, Failure> {
    let (lease, version) = read_job(tx, scope.tables, scope.job, "FOR UPDATE")?;
    let now_ms = read_now(tx, scope.fixed_ms)?;
    let tasks: Vec<i64> = assignment.keys().map(|t| task_sql(*t)).collect();
    let workers: Vec<i64> = assignment.values().map(|w| worker_sql(*w)).collect();
    let (unknown, missing) = coverage(tx, scope, &tasks)?;
    // Fenced by the coordinator epoch and the version computed from; the assignment must
    // name every task of the job exactly once (keys of a map are unique already).
    let published = tx.query_opt(
        &format!(
            "UPDATE {jobs} SET
                 assignment = COALESCE((SELECT jsonb_object_agg(t::text, w)
                                        FROM unnest($6::bigint[], $7::bigint[]) AS a(t, w)),
                                       '{{}}'::jsonb),
                 assignment_version = assignment_version + 1
             WHERE job = $1 AND coordinator = $2 AND coordinator_epoch = $3
               AND $4 < coordinator_expires_ms AND assignment_version = $5
               AND NOT EXISTS (SELECT 1 FROM unnest($6::bigint[]) AS t
                               WHERE t NOT IN (SELECT task FROM {tasks} WHERE job = $1))
               AND NOT EXISTS (SELECT 1 FROM {tasks}
                               WHERE job = $1 AND task <> ALL ($6::bigint[]))
             RETURNING assignment_version",
            jobs = scope.tables.jobs,
            tasks = scope.tables.tasks
        ),
        &[
            &scope.job,
            &worker_sql(worker),
            &bits_sql(epoch.0),
            &sql_ms(now_ms)?,
            &bits_sql(based_on),
            &tasks,
            &workers,
        ],
    )?;
    let refusal =
        if lease.holder != Some(worker) || lease.epoch != epoch || now_ms >= lease.expires_at_ms {
            Some(PublishError::NotCoordinator {
                presented: epoch,
                holder: lease.holder,
                current: lease.epoch,
            })
        } else if based_on != version {
            Some(PublishError::VersionMoved {
                based_on,
                current: version,
            })
        } else if let Some(task) = unknown {
            Some(PublishError::UnknownTask { task })
        } else {
            missing.map(|task| PublishError::MissingTask { task })
        };
    match (published, refusal) {
        (Some(row), None) => Ok(Ok(non_negative(
            row.try_get(0)?,
            "cluster_jobs",
            "assignment_version",
        )?)),
        (None, Some(refusal)) => Ok(Err(refusal)),
        _ => Err(disagree("publish's UPDATE and its explanation disagree")),
    }
}

/// The lowest task of the assignment the job does not have, and the lowest task of the
/// job the assignment leaves out (the model reports them in that order).
fn coverage(
    tx: &mut Transaction<'_>,
    scope: Scope<'_>,
    tasks: &[i64],
) -> Result<(Option<TaskId>, Option<TaskId>), Failure> {
    let row = tx.query_one(
        &format!(
            "SELECT (SELECT min(t) FROM unnest($2::bigint[]) AS t
                     WHERE t NOT IN (SELECT task FROM {tasks} WHERE job = $1)),
                    (SELECT min(task) FROM {tasks} WHERE job = $1 AND task <> ALL ($2::bigint[]))",
            tasks = scope.tables.tasks
        ),
        &[&scope.job, &tasks],
    )?;
    let task = |value: Option<i64>| -> Result<Option<TaskId>, Failure> {
        value
            .map(|v| {
                u32::try_from(v)
                    .map(TaskId)
                    .map_err(|_| Failure::bad("cluster_tasks", format!("task {v} is not a u32")))
            })
            .transpose()
    };
    Ok((task(row.try_get(0)?)?, task(row.try_get(1)?)?))
}

/// Deletes the membership rows expired at `now_ms`; returns how many.
pub(crate) fn forget_expired_members(
    tx: &mut Transaction<'_>,
    scope: Scope<'_>,
) -> Result<u64, Failure> {
    read_job(tx, scope.tables, scope.job, "FOR SHARE")?;
    let now_ms = read_now(tx, scope.fixed_ms)?;
    Ok(tx.execute(
        &format!(
            "DELETE FROM {} WHERE job = $1 AND expires_ms <= $2",
            scope.tables.members
        ),
        &[&scope.job, &sql_ms(now_ms)?],
    )?)
}
