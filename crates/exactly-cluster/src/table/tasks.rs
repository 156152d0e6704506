//! The task-lease operations: acquire, renew, release and the commit check. Each reads
//! and conditionally updates the task's one row.

use super::{extended, ttl_in_range, LeaseTable, TaskLease};
use crate::error::LeaseError;
use crate::ids::{Epoch, TaskId, WorkerId};

impl LeaseTable {
    /// Grants `worker` the lease on `task` until `now_ms + ttl_ms`, if the task is
    /// assigned to it and free (never held, released, or expired by `now_ms`): at the
    /// previous epoch + 1. If `worker` already holds the live lease (its earlier acquire's
    /// answer was lost), extends it at the same epoch, so retrying is safe.
    pub fn acquire(
        &mut self,
        now_ms: u64,
        worker: WorkerId,
        task: TaskId,
        ttl_ms: u64,
    ) -> Result<Epoch, LeaseError> {
        if !ttl_in_range(ttl_ms) {
            return Err(LeaseError::TtlOutOfRange { ttl_ms });
        }
        let assigned_to = self.assignment.get(&task).copied();
        let lease = self
            .tasks
            .get_mut(&task)
            .ok_or(LeaseError::UnknownTask { task })?;
        if assigned_to != Some(worker) {
            return Err(LeaseError::NotAssigned { task, assigned_to });
        }
        if lease.is_live(now_ms) {
            match lease.owner {
                Some(owner) if owner != worker => {
                    return Err(LeaseError::Held {
                        task,
                        owner,
                        epoch: lease.epoch,
                        expires_at_ms: lease.expires_at_ms,
                    })
                }
                // The caller's own live lease: extended below at the same epoch.
                _ => {}
            }
            lease.expires_at_ms = extended(lease.expires_at_ms, now_ms, ttl_ms);
        } else {
            lease.epoch = lease.epoch.next();
            lease.owner = Some(worker);
            lease.released = false;
            lease.expires_at_ms = now_ms.saturating_add(ttl_ms);
        }
        Ok(lease.epoch)
    }

    /// Extends `worker`'s live lease on `task` at `epoch` to `now_ms + ttl_ms`. An expired
    /// lease is not revived, even if nobody took it: its owner may have stopped already.
    pub fn renew(
        &mut self,
        now_ms: u64,
        worker: WorkerId,
        task: TaskId,
        epoch: Epoch,
        ttl_ms: u64,
    ) -> Result<(), LeaseError> {
        if !ttl_in_range(ttl_ms) {
            return Err(LeaseError::TtlOutOfRange { ttl_ms });
        }
        let lease = self
            .tasks
            .get_mut(&task)
            .ok_or(LeaseError::UnknownTask { task })?;
        check_live(lease, now_ms, worker, task, epoch)?;
        lease.expires_at_ms = extended(lease.expires_at_ms, now_ms, ttl_ms);
        Ok(())
    }

    /// Gives up `worker`'s lease on `task` at `epoch`, so the task's next owner need not
    /// wait for it to expire. Releasing an already released (or expired) lease of the
    /// current epoch succeeds again: a repeated release changes nothing.
    pub fn release(
        &mut self,
        _now_ms: u64,
        worker: WorkerId,
        task: TaskId,
        epoch: Epoch,
    ) -> Result<(), LeaseError> {
        let lease = self
            .tasks
            .get_mut(&task)
            .ok_or(LeaseError::UnknownTask { task })?;
        check_epoch(lease, worker, task, epoch)?;
        lease.released = true;
        Ok(())
    }

    /// The checkpoint commit's fence, run in the commit's own transaction: accepted only
    /// if `epoch` is `task`'s current epoch, `worker` its owner, and the lease is neither
    /// released nor expired at `now_ms`. Changes nothing.
    pub fn check_commit(
        &self,
        now_ms: u64,
        worker: WorkerId,
        task: TaskId,
        epoch: Epoch,
    ) -> Result<(), LeaseError> {
        let lease = self
            .tasks
            .get(&task)
            .ok_or(LeaseError::UnknownTask { task })?;
        check_live(lease, now_ms, worker, task, epoch)
    }
}

/// The caller owns the current epoch.
fn check_epoch(
    lease: &TaskLease,
    worker: WorkerId,
    task: TaskId,
    epoch: Epoch,
) -> Result<(), LeaseError> {
    if lease.owner == Some(worker) && lease.epoch == epoch {
        Ok(())
    } else {
        Err(LeaseError::Fenced {
            task,
            worker,
            presented: epoch,
            current: lease.epoch,
            owner: lease.owner,
        })
    }
}

/// The caller owns the current epoch, and the lease is neither released nor expired.
fn check_live(
    lease: &TaskLease,
    now_ms: u64,
    worker: WorkerId,
    task: TaskId,
    epoch: Epoch,
) -> Result<(), LeaseError> {
    check_epoch(lease, worker, task, epoch)?;
    if lease.released {
        return Err(LeaseError::Released { task, epoch });
    }
    if now_ms >= lease.expires_at_ms {
        return Err(LeaseError::Expired {
            task,
            epoch,
            expires_at_ms: lease.expires_at_ms,
        });
    }
    Ok(())
}
