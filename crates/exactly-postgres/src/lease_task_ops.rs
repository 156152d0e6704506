//! The task-lease operations as SQL: acquire, renew, release and the commit check. Each
//! locks the task's row first (acquire also the job row, `FOR SHARE`, for the assignment),
//! then reads the clock, then runs the conditional `UPDATE` of `docs/cluster.md`; a
//! refusal is explained from the locked row in the model's order (see `lease_ops.rs`).

use crate::lease_error::Failure;
use crate::lease_schema::{
    bits_sql, non_negative, read_assignment, read_job, read_now, read_task, task_sql, worker_sql,
};
use crate::lease_scope::{disagree, sql_ms, ttl_ok, Scope};
use exactly_cluster::{Epoch, LeaseError, TaskId, TaskLease, WorkerId};
use postgres::Transaction;

/// Appends a new epoch's grant to the task's history (the lease history an audit reads).
/// Its key is (job, task, epoch) and nothing ever updates it, so the database itself
/// refuses a second owner of one epoch: such an insert fails the acquire instead of
/// being recorded.
fn record_grant(
    tx: &mut Transaction<'_>,
    scope: Scope<'_>,
    worker: WorkerId,
    task: TaskId,
    epoch: Epoch,
    now_ms: u64,
) -> Result<(), Failure> {
    tx.execute(
        &format!(
            "INSERT INTO {history} (job, task, epoch, owner, granted_ms)
             VALUES ($1, $2, $3, $4, $5)",
            history = scope.tables.history
        ),
        &[
            &scope.job,
            &task_sql(task),
            &bits_sql(epoch.0),
            &worker_sql(worker),
            &sql_ms(now_ms)?,
        ],
    )?;
    Ok(())
}

pub(crate) fn acquire(
    tx: &mut Transaction<'_>,
    scope: Scope<'_>,
    worker: WorkerId,
    task: TaskId,
    ttl_ms: u64,
) -> Result<Result<Epoch, LeaseError>, Failure> {
    if !ttl_ok(ttl_ms) {
        return Ok(Err(LeaseError::TtlOutOfRange { ttl_ms }));
    }
    // The job row's share lock orders this acquire with a publish changing the assignee.
    read_job(tx, scope.tables, scope.job, "FOR SHARE")?;
    let assigned_to = read_assignment(tx, scope.tables, scope.job)?
        .get(&task)
        .copied();
    let Some(before) = read_task(tx, scope.tables, scope.job, task, "FOR UPDATE")? else {
        return Ok(Err(LeaseError::UnknownTask { task }));
    };
    if assigned_to != Some(worker) {
        return Ok(Err(LeaseError::NotAssigned { task, assigned_to }));
    }
    let now_ms = read_now(tx, scope.fixed_ms)?;
    // Extend the caller's own live lease at its epoch (a retried acquire); take a free
    // one (never held, released, expired) at epoch + 1; no row while another's is live.
    let granted = tx.query_opt(
        &format!(
            "UPDATE {tasks} SET
                 epoch = CASE WHEN owner = $3 AND NOT released AND $4 < expires_ms
                              THEN epoch ELSE epoch + 1 END,
                 expires_ms = CASE WHEN owner = $3 AND NOT released AND $4 < expires_ms
                              THEN GREATEST(expires_ms, $4::bigint + $5::bigint) ELSE $4::bigint + $5::bigint END,
                 owner = $3, released = false
             WHERE job = $1 AND task = $2
               AND (owner IS NULL OR owner = $3 OR released OR expires_ms <= $4)
             RETURNING epoch",
            tasks = scope.tables.tasks
        ),
        &[
            &scope.job,
            &task_sql(task),
            &worker_sql(worker),
            &sql_ms(now_ms)?,
            &sql_ms(ttl_ms)?,
        ],
    )?;
    match (granted, before.owner) {
        (Some(row), _) => {
            let epoch = Epoch(non_negative(row.try_get(0)?, "cluster_tasks", "epoch")?);
            if epoch != before.epoch {
                record_grant(tx, scope, worker, task, epoch, now_ms)?;
            }
            Ok(Ok(epoch))
        }
        (None, Some(owner)) if owner != worker && before.is_live(now_ms) => {
            Ok(Err(LeaseError::Held {
                task,
                owner,
                epoch: before.epoch,
                expires_at_ms: before.expires_at_ms,
            }))
        }
        (None, _) => Err(disagree("acquire refused a lease that is free to take")),
    }
}

pub(crate) fn renew(
    tx: &mut Transaction<'_>,
    scope: Scope<'_>,
    worker: WorkerId,
    task: TaskId,
    epoch: Epoch,
    ttl_ms: u64,
) -> Result<Result<(), LeaseError>, Failure> {
    if !ttl_ok(ttl_ms) {
        return Ok(Err(LeaseError::TtlOutOfRange { ttl_ms }));
    }
    let Some(before) = read_task(tx, scope.tables, scope.job, task, "FOR UPDATE")? else {
        return Ok(Err(LeaseError::UnknownTask { task }));
    };
    let now_ms = read_now(tx, scope.fixed_ms)?;
    // Only the owner's live lease at its current epoch; an expired lease is never revived.
    let renewed = tx.execute(
        &format!(
            "UPDATE {tasks} SET expires_ms = GREATEST(expires_ms, $5::bigint + $6::bigint)
             WHERE job = $1 AND task = $2 AND owner = $3 AND epoch = $4
               AND NOT released AND $5 < expires_ms",
            tasks = scope.tables.tasks
        ),
        &[
            &scope.job,
            &task_sql(task),
            &worker_sql(worker),
            &bits_sql(epoch.0),
            &sql_ms(now_ms)?,
            &sql_ms(ttl_ms)?,
        ],
    )?;
    explain(renewed, live_refusal(&before, now_ms, worker, task, epoch))
}

pub(crate) fn release(
    tx: &mut Transaction<'_>,
    scope: Scope<'_>,
    worker: WorkerId,
    task: TaskId,
    epoch: Epoch,
) -> Result<Result<(), LeaseError>, Failure> {
    let Some(before) = read_task(tx, scope.tables, scope.job, task, "FOR UPDATE")? else {
        return Ok(Err(LeaseError::UnknownTask { task }));
    };
    // The owner of the current epoch gives it up; releasing again changes nothing.
    let released = tx.execute(
        &format!(
            "UPDATE {tasks} SET released = true
             WHERE job = $1 AND task = $2 AND owner = $3 AND epoch = $4",
            tasks = scope.tables.tasks
        ),
        &[
            &scope.job,
            &task_sql(task),
            &worker_sql(worker),
            &bits_sql(epoch.0),
        ],
    )?;
    explain(released, epoch_refusal(&before, worker, task, epoch))
}

/// The commit check: locks the task row `FOR SHARE` (an acquire, renew or release of the
/// task waits for the caller's transaction to end; one in flight is waited for and its
/// result read), then reads the clock and decides. Writes nothing.
pub(crate) fn commit_check(
    tx: &mut Transaction<'_>,
    scope: Scope<'_>,
    worker: WorkerId,
    task: TaskId,
    epoch: Epoch,
) -> Result<Result<(), LeaseError>, Failure> {
    let Some(lease) = read_task(tx, scope.tables, scope.job, task, "FOR SHARE")? else {
        return Ok(Err(LeaseError::UnknownTask { task }));
    };
    let now_ms = read_now(tx, scope.fixed_ms)?;
    Ok(match live_refusal(&lease, now_ms, worker, task, epoch) {
        Some(refusal) => Err(refusal),
        None => Ok(()),
    })
}

/// An `UPDATE`'s row count against the refusal explained from the row read before: one
/// row and no refusal, or no row and a refusal.
fn explain(updated: u64, refusal: Option<LeaseError>) -> Result<Result<(), LeaseError>, Failure> {
    match (updated, refusal) {
        (1, None) => Ok(Ok(())),
        (0, Some(refusal)) => Ok(Err(refusal)),
        (rows, refusal) => Err(disagree(&format!(
            "a task lease UPDATE changed {rows} rows where the model says {refusal:?}"
        ))),
    }
}

/// Why `worker` at `epoch` may not act on `lease`: not the current epoch's owner.
fn epoch_refusal(
    lease: &TaskLease,
    worker: WorkerId,
    task: TaskId,
    epoch: Epoch,
) -> Option<LeaseError> {
    if lease.owner == Some(worker) && lease.epoch == epoch {
        return None;
    }
    Some(LeaseError::Fenced {
        task,
        worker,
        presented: epoch,
        current: lease.epoch,
        owner: lease.owner,
    })
}

/// Why `worker` at `epoch` may not renew or commit: fenced, released, or expired.
fn live_refusal(
    lease: &TaskLease,
    now_ms: u64,
    worker: WorkerId,
    task: TaskId,
    epoch: Epoch,
) -> Option<LeaseError> {
    if let Some(fenced) = epoch_refusal(lease, worker, task, epoch) {
        return Some(fenced);
    }
    if lease.released {
        return Some(LeaseError::Released { task, epoch });
    }
    if now_ms >= lease.expires_at_ms {
        return Some(LeaseError::Expired {
            task,
            epoch,
            expires_at_ms: lease.expires_at_ms,
        });
    }
    None
}
