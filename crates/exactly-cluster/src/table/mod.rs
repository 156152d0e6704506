//! The authority: the state the store (PostgreSQL) holds for one job, and its operations.
//!
//! [`LeaseTable`] is pure: every operation takes the store's own time `now_ms` (the
//! store's clock when the transaction runs) and returns a typed result. Each operation is
//! one store transaction of conditional single-row updates (and reads); `docs/cluster.md`
//! gives the schema and each operation's SQL. `exactly-postgres`'s `PgLeaseStore` is that
//! SQL, tested against this model (it reads its state back through [`TableParts`]).
//!
//! The rules every operation keeps:
//! - a task's epoch rises by one whenever its lease passes to an owner by
//!   [`LeaseTable::acquire`] from a released or expired lease, and never otherwise falls
//!   or changes;
//! - a lease is live while `now_ms < expires_at_ms` and it is not released; only a live
//!   lease is renewed or passes the commit check, and a live lease is never granted to
//!   anyone but its owner.

mod tasks;

use crate::assign::Assignment;
use crate::config::LEASE_TTL_MS_MAX;
use crate::error::{CoordinatorError, MemberError, PublishError};
use crate::ids::{Epoch, TaskId, WorkerId};
use crate::protocol::{CoordinatorGrant, HeartbeatReply, Request, Response};
use std::collections::{BTreeMap, BTreeSet};

/// One task's lease, as the store holds it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct TaskLease {
    /// The worker that last acquired it (`None`: never acquired).
    pub owner: Option<WorkerId>,
    /// Its epoch (0: never acquired).
    pub epoch: Epoch,
    /// When it expires, by store time.
    pub expires_at_ms: u64,
    /// Whether its owner gave it up.
    pub released: bool,
}

impl TaskLease {
    /// Whether the lease still binds at store time `now_ms`: held, not released, not
    /// expired.
    pub fn is_live(&self, now_ms: u64) -> bool {
        self.owner.is_some() && !self.released && now_ms < self.expires_at_ms
    }
}

/// The coordinator lease.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct CoordinatorLease {
    /// The holder (`None`: never taken).
    pub holder: Option<WorkerId>,
    /// Its epoch: one higher on every takeover.
    pub epoch: Epoch,
    /// When it expires, by store time.
    pub expires_at_ms: u64,
}

/// The store's state for one job: membership, coordinator lease, assignment, task leases.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseTable {
    /// Membership: each worker's lease expiry, by store time.
    members: BTreeMap<WorkerId, u64>,
    coordinator: CoordinatorLease,
    assignment: Assignment,
    assignment_version: u64,
    /// One row per task of the job, created with the table: the task list is fixed.
    tasks: BTreeMap<TaskId, TaskLease>,
}

/// A [`LeaseTable`]'s state spelled out, for a store implementation that reads its state
/// back ([`LeaseTable::from_parts`]) so that it can be compared with the model.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableParts {
    /// Every membership row, expired or not: each worker's lease expiry, by store time.
    pub members: BTreeMap<WorkerId, u64>,
    /// The coordinator lease.
    pub coordinator: CoordinatorLease,
    /// The current assignment.
    pub assignment: Assignment,
    /// Its version (0: nothing published yet).
    pub assignment_version: u64,
    /// One lease per task of the job.
    pub tasks: BTreeMap<TaskId, TaskLease>,
}

fn ttl_in_range(ttl_ms: u64) -> bool {
    (1..=LEASE_TTL_MS_MAX).contains(&ttl_ms)
}

/// A live lease's new expiry when its holder extends it: never earlier than before
/// (`GREATEST(expires_at_ms, $now + $ttl)` in SQL), so a late or reordered extension
/// cannot shorten a lease its holder is counting on.
fn extended(expires_at_ms: u64, now_ms: u64, ttl_ms: u64) -> u64 {
    expires_at_ms.max(now_ms.saturating_add(ttl_ms))
}

impl LeaseTable {
    /// A fresh table for a job with these tasks (duplicates count once): no members, no
    /// coordinator, nothing assigned (version 0), every lease at epoch 0.
    pub fn new(tasks: &[TaskId]) -> Self {
        LeaseTable {
            members: BTreeMap::new(),
            coordinator: CoordinatorLease::default(),
            assignment: Assignment::new(),
            assignment_version: 0,
            tasks: tasks.iter().map(|t| (*t, TaskLease::default())).collect(),
        }
    }

    /// A table holding exactly `parts`, as a store read them back. No invariant is
    /// checked: a state no sequence of operations produces is still representable, so a
    /// comparison with the model shows it instead of hiding it.
    pub fn from_parts(parts: TableParts) -> Self {
        LeaseTable {
            members: parts.members,
            coordinator: parts.coordinator,
            assignment: parts.assignment,
            assignment_version: parts.assignment_version,
            tasks: parts.tasks,
        }
    }

    /// Runs one request at store time `now_ms`.
    pub fn serve(&mut self, now_ms: u64, request: &Request) -> Response {
        match request {
            Request::Heartbeat {
                worker,
                member_ttl_ms,
            } => Response::Heartbeat(self.heartbeat(now_ms, *worker, *member_ttl_ms)),
            Request::Coordinate { worker, ttl_ms } => {
                Response::Coordinate(self.coordinate(now_ms, *worker, *ttl_ms))
            }
            Request::Publish {
                worker,
                epoch,
                based_on_version,
                assignment,
            } => Response::Publish(self.publish(
                now_ms,
                *worker,
                *epoch,
                *based_on_version,
                assignment,
            )),
            Request::Acquire {
                worker,
                task,
                ttl_ms,
            } => Response::Acquire(self.acquire(now_ms, *worker, *task, *ttl_ms)),
            Request::Renew {
                worker,
                task,
                epoch,
                ttl_ms,
            } => Response::Renew(self.renew(now_ms, *worker, *task, *epoch, *ttl_ms)),
            Request::Release {
                worker,
                task,
                epoch,
            } => Response::Release(self.release(now_ms, *worker, *task, *epoch)),
            Request::CommitCheck {
                worker,
                task,
                epoch,
            } => Response::CommitCheck(self.check_commit(now_ms, *worker, *task, *epoch)),
        }
    }

    /// Extends `worker`'s membership to `now_ms + member_ttl_ms` and reads what is
    /// assigned to it and whether a coordinator is live.
    pub fn heartbeat(
        &mut self,
        now_ms: u64,
        worker: WorkerId,
        member_ttl_ms: u64,
    ) -> Result<HeartbeatReply, MemberError> {
        if !ttl_in_range(member_ttl_ms) {
            return Err(MemberError::TtlOutOfRange {
                ttl_ms: member_ttl_ms,
            });
        }
        let expires_at_ms = match self.members.get(&worker) {
            Some(expires_at_ms) => extended(*expires_at_ms, now_ms, member_ttl_ms),
            // A new member (or one whose row was forgotten).
            None => now_ms.saturating_add(member_ttl_ms),
        };
        self.members.insert(worker, expires_at_ms);
        let assigned = self
            .assignment
            .iter()
            .filter(|(_, assignee)| **assignee == worker)
            .map(|(task, _)| *task)
            .collect();
        Ok(HeartbeatReply {
            assignment_version: self.assignment_version,
            assigned,
            coordinator_live: self.coordinator.holder.is_some()
                && now_ms < self.coordinator.expires_at_ms,
        })
    }

    /// Renews the coordinator lease if `worker` holds it unexpired; takes it over at the
    /// next epoch if it is free or expired (a holder whose own lease expired takes it over
    /// too: the epoch still rises); refuses while another worker's lease is live.
    pub fn coordinate(
        &mut self,
        now_ms: u64,
        worker: WorkerId,
        ttl_ms: u64,
    ) -> Result<CoordinatorGrant, CoordinatorError> {
        if !ttl_in_range(ttl_ms) {
            return Err(CoordinatorError::TtlOutOfRange { ttl_ms });
        }
        let lease = &mut self.coordinator;
        let live = now_ms < lease.expires_at_ms;
        match lease.holder {
            Some(holder) if live && holder != worker => {
                return Err(CoordinatorError::Held {
                    holder,
                    epoch: lease.epoch,
                })
            }
            Some(holder) if live && holder == worker => {
                lease.expires_at_ms = extended(lease.expires_at_ms, now_ms, ttl_ms);
            }
            _ => {
                lease.epoch = lease.epoch.next();
                lease.holder = Some(worker);
                lease.expires_at_ms = now_ms.saturating_add(ttl_ms);
            }
        }
        Ok(CoordinatorGrant {
            epoch: lease.epoch,
            members: self.live_members(now_ms),
            assignment: self.assignment.clone(),
            assignment_version: self.assignment_version,
        })
    }

    /// Replaces the assignment, if `worker` holds the live coordinator lease at `epoch`,
    /// the assignment was computed from the current version, and it names every task of
    /// the job exactly once. Returns the new version.
    pub fn publish(
        &mut self,
        now_ms: u64,
        worker: WorkerId,
        epoch: Epoch,
        based_on_version: u64,
        assignment: &Assignment,
    ) -> Result<u64, PublishError> {
        let lease = &self.coordinator;
        if lease.holder != Some(worker) || lease.epoch != epoch || now_ms >= lease.expires_at_ms {
            return Err(PublishError::NotCoordinator {
                presented: epoch,
                holder: lease.holder,
                current: lease.epoch,
            });
        }
        if based_on_version != self.assignment_version {
            return Err(PublishError::VersionMoved {
                based_on: based_on_version,
                current: self.assignment_version,
            });
        }
        self.check_covers(assignment)?;
        self.assignment = assignment.clone();
        self.assignment_version += 1;
        Ok(self.assignment_version)
    }

    fn check_covers(&self, assignment: &Assignment) -> Result<(), PublishError> {
        if let Some(task) = assignment.keys().find(|t| !self.tasks.contains_key(t)) {
            return Err(PublishError::UnknownTask { task: *task });
        }
        if let Some(task) = self.tasks.keys().find(|t| !assignment.contains_key(t)) {
            return Err(PublishError::MissingTask { task: *task });
        }
        Ok(())
    }

    /// Deletes membership rows that expired before `now_ms`: they are ignored anyway, so
    /// this only bounds the table's size (run it in its own transaction, any time).
    pub fn forget_expired_members(&mut self, now_ms: u64) {
        self.members
            .retain(|_, expires_at_ms| now_ms < *expires_at_ms);
    }

    /// The workers whose membership lease is live at `now_ms`.
    pub fn live_members(&self, now_ms: u64) -> BTreeSet<WorkerId> {
        self.members
            .iter()
            .filter(|(_, expires_at_ms)| now_ms < **expires_at_ms)
            .map(|(worker, _)| *worker)
            .collect()
    }

    /// Every membership row, expired or not (until [`Self::forget_expired_members`]
    /// deletes it): each worker's lease expiry, by store time.
    pub fn members(&self) -> &BTreeMap<WorkerId, u64> {
        &self.members
    }

    /// The coordinator lease.
    pub fn coordinator(&self) -> &CoordinatorLease {
        &self.coordinator
    }

    /// The current assignment and its version.
    pub fn assignment(&self) -> (&Assignment, u64) {
        (&self.assignment, self.assignment_version)
    }

    /// A task's lease (`None`: not a task of this job).
    pub fn task(&self, task: TaskId) -> Option<&TaskLease> {
        self.tasks.get(&task)
    }
}
