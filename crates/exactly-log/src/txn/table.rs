//! The transaction coordinator's state machine: one [`TxnMetadata`] per transactional id,
//! changed by transitions that touch no storage and read no clock (time comes in as an
//! argument). Each transition returns a [`Plan`] — the effects the driver must perform, in
//! order — and completion of the marker step comes back in as an event
//! ([`TxnTable::markers_written`]), in the style of a raft `Ready`.
//!
//! The table changes in memory when a transition is taken, before its plan is performed;
//! the driver serializes the transitions and plans of one transactional id, so no other
//! operation of that id observes a state whose record is not yet durable.

use super::error::TxnError;
pub use super::state::{TxnMetadata, TxnState};
use super::topics::FIRST_ALLOCATED_PRODUCER_ID;
use crate::batch::ControlKind;
use std::collections::{BTreeMap, BTreeSet};

/// A transaction never begins within this many epochs of `u16::MAX` (it takes a fresh
/// producer id instead): aborting it and handing it over bump the epoch again, and those
/// bumps must still fence. Saturating at `u16::MAX` left old instances unfenced.
pub(crate) const EPOCH_HEADROOM: u16 = 16;

/// The markers that end one transaction: one per partition it wrote to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarkerWrite {
    /// The transaction's id.
    pub transactional_id: String,
    /// Its producer id.
    pub producer_id: u64,
    /// The epoch its batches carry (`None`: recorded before it was kept; the driver
    /// finds it in each partition).
    pub txn_epoch: Option<u16>,
    /// The coordinator's current epoch for the id: partitions fence older batches.
    pub fence_epoch: u16,
    /// Commit or abort.
    pub kind: ControlKind,
    /// Where the markers go.
    pub partitions: BTreeSet<(String, u32)>,
}

/// The effects of one transition, performed in this order; a failed step stops the plan.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// 1. Make these partitions' data durable (data before decision).
    pub flush: Vec<(String, u32)>,
    /// 2. Durably record this state in `__transactions` (the decision, when it is one).
    pub record: Option<TxnMetadata>,
    /// 3. Write these markers (after the decision is durable), then report with
    ///    [`TxnTable::markers_written`], which yields the completion to record lazily.
    pub markers: Option<MarkerWrite>,
    /// 4. Append this state without waiting for durability: recovery does not need it (a
    ///    partition added to an open transaction — see [`TxnTable::add_partition`]); the
    ///    next durable record of `__transactions` syncs it along.
    pub note: Option<TxnMetadata>,
}

impl Plan {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.flush.is_empty()
            && self.record.is_none()
            && self.markers.is_none()
            && self.note.is_none()
    }
}

/// A transition's plan and the answer to give once the plan is performed.
#[derive(Debug)]
pub struct Step<T> {
    /// Effects to perform first.
    pub plan: Plan,
    /// The operation's result, valid once `plan` succeeded.
    pub outcome: Result<T, TxnError>,
}

impl<T> Step<T> {
    fn done(plan: Plan, value: T) -> Self {
        Self {
            plan,
            outcome: Ok(value),
        }
    }
    fn failed(plan: Plan, error: TxnError) -> Self {
        Self {
            plan,
            outcome: Err(error),
        }
    }
}

/// A producer instance's identity: the id it owns and the epoch it was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handle {
    /// Producer id.
    pub producer_id: u64,
    /// Epoch.
    pub epoch: u16,
}

/// What `init` hands the new producer instance (once its plan is performed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Init {
    /// Whether it holds a prepared transaction needing a decision.
    pub prepared: bool,
}

/// The coordinator's in-memory table of transactional ids.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnTable {
    txns: BTreeMap<String, TxnMetadata>,
    next_producer_id: u64,
}

impl Default for TxnTable {
    fn default() -> Self {
        Self::new()
    }
}

impl TxnTable {
    /// An empty table.
    pub fn new() -> Self {
        Self {
            txns: BTreeMap::new(),
            next_producer_id: FIRST_ALLOCATED_PRODUCER_ID,
        }
    }

    /// Applies one durable record (replay of `__transactions`, or of a snapshot).
    pub fn replay(&mut self, meta: TxnMetadata) {
        self.next_producer_id = self
            .next_producer_id
            .max(meta.producer_id.saturating_add(1));
        self.txns.insert(meta.transactional_id.clone(), meta);
    }

    /// The next producer id `init` or `begin` would allocate.
    pub fn next_producer_id(&self) -> u64 {
        self.next_producer_id
    }

    /// Raises the next producer id to at least `next` (restored from a snapshot).
    pub fn reserve_producer_ids(&mut self, next: u64) {
        self.next_producer_id = self.next_producer_id.max(next);
    }

    /// One id's state.
    pub fn get(&self, transactional_id: &str) -> Option<&TxnMetadata> {
        self.txns.get(transactional_id)
    }

    /// Every id's state, by id.
    pub fn all(&self) -> impl Iterator<Item = &TxnMetadata> {
        self.txns.values()
    }

    /// Creates or takes over `transactional_id`, fencing every older instance: an open
    /// transaction is aborted, a decided one completed, a prepared one handed over with a
    /// new epoch; otherwise the epoch is bumped (or a fresh producer id taken near the end
    /// of the epochs). Read the new handle with [`TxnTable::get`] once the plan is done.
    pub fn init(&mut self, transactional_id: &str, timeout_ms: i64) -> Step<Init> {
        let next_id = self.next_producer_id;
        let meta = self
            .txns
            .entry(transactional_id.to_string())
            .or_insert_with(|| TxnMetadata {
                transactional_id: transactional_id.to_string(),
                producer_id: next_id,
                epoch: 0,
                state: TxnState::Empty,
                partitions: BTreeSet::new(),
                timeout_ms,
                started_ms: 0,
                txn_epoch: None,
            });
        if meta.producer_id == next_id {
            self.next_producer_id += 1;
        }
        meta.timeout_ms = timeout_ms;
        let prepared = meta.state == TxnState::Prepared;
        let plan = match meta.state {
            TxnState::Prepared => {
                // Bump the epoch on hand-over too: without it the old instance kept the
                // same epoch and could still commit or abort the transaction the new one
                // now holds (both "deciding" it, both told Ok). Markers at a newer epoch
                // still end the prepared transaction in every partition.
                meta.epoch = meta.epoch.saturating_add(1);
                Plan {
                    record: Some(meta.clone()),
                    ..Plan::default()
                }
            }
            TxnState::Ongoing => abort_open(meta),
            TxnState::PrepareCommit => finish(meta, ControlKind::Commit),
            TxnState::PrepareAbort => finish(meta, ControlKind::Abort),
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                if meta.epoch >= u16::MAX - EPOCH_HEADROOM {
                    // Nothing is open: move to a fresh producer id rather than saturate
                    // (an unchanged epoch did not fence the old instance).
                    meta.producer_id = self.next_producer_id;
                    self.next_producer_id += 1;
                    meta.epoch = 0;
                } else {
                    meta.epoch += 1;
                }
                meta.state = TxnState::Empty;
                Plan {
                    record: Some(meta.clone()),
                    ..Plan::default()
                }
            }
        };
        Step::done(plan, Init { prepared })
    }

    /// The id's state if `handle` is its current instance and its transaction has not
    /// timed out; otherwise the error (and, for a timeout, the abort's plan).
    fn checked(
        &mut self,
        transactional_id: &str,
        handle: Handle,
        now_ms: i64,
    ) -> Result<(&mut TxnMetadata, &mut u64), Box<(Plan, TxnError)>> {
        let Some(meta) = self.txns.get_mut(transactional_id) else {
            return Err(Box::new((
                Plan::default(),
                TxnError::CorruptState {
                    offset: 0,
                    reason: "unknown transactional id".into(),
                },
            )));
        };
        if meta.producer_id != handle.producer_id || meta.epoch != handle.epoch {
            return Err(Box::new((
                Plan::default(),
                TxnError::Fenced {
                    transactional_id: transactional_id.to_string(),
                    epoch: handle.epoch,
                    current_epoch: meta.epoch,
                },
            )));
        }
        if timed_out(meta, now_ms) {
            let timeout_ms = meta.timeout_ms;
            return Err(Box::new((
                abort_open(meta),
                TxnError::TimedOut {
                    transactional_id: transactional_id.to_string(),
                    timeout_ms,
                },
            )));
        }
        Ok((meta, &mut self.next_producer_id))
    }

    /// Starts a transaction, bumping the epoch (one epoch per transaction). Nothing is
    /// recorded yet (the first partition added notes the new epoch) — unless the epochs of
    /// the producer id ran out and a fresh producer id is taken: that is recorded durably
    /// at once, so a crash can never hand the same producer id to another transactional id.
    pub fn begin(&mut self, transactional_id: &str, handle: Handle, now_ms: i64) -> Step<Handle> {
        let (meta, next_producer_id) = match self.checked(transactional_id, handle, now_ms) {
            Ok(found) => found,
            Err(failed) => return Step::failed(failed.0, failed.1),
        };
        let fresh_producer_id = meta.epoch >= u16::MAX - EPOCH_HEADROOM;
        if fresh_producer_id {
            // Out of epochs for this producer id: take a fresh one. Headroom is left for
            // the bumps of an abort or hand-over of this transaction (see
            // `EPOCH_HEADROOM`).
            meta.producer_id = *next_producer_id;
            *next_producer_id += 1;
            meta.epoch = 0;
        } else {
            meta.epoch += 1;
        }
        meta.state = TxnState::Ongoing;
        meta.txn_epoch = Some(meta.epoch);
        meta.partitions.clear();
        meta.started_ms = now_ms;
        let handle = Handle {
            producer_id: meta.producer_id,
            epoch: meta.epoch,
        };
        let plan = Plan {
            record: fresh_producer_id.then(|| meta.clone()),
            ..Plan::default()
        };
        Step::done(plan, handle)
    }

    /// Adds a partition to the open transaction: noted in `__transactions` without waiting
    /// for durability. Recovery does not need the note: a crash that loses it ends the
    /// transaction open, and the spans it left open are found in the partitions
    /// themselves and aborted (no decision was recorded for them); the decision or
    /// prepare record, durable before anything is promised, names every partition.
    pub fn add_partition(
        &mut self,
        transactional_id: &str,
        handle: Handle,
        now_ms: i64,
        partition: (String, u32),
    ) -> Step<()> {
        let meta = match self.checked(transactional_id, handle, now_ms) {
            Ok((meta, _)) => meta,
            Err(failed) => return Step::failed(failed.0, failed.1),
        };
        let mut plan = Plan::default();
        if meta.partitions.insert(partition) {
            plan.note = Some(meta.clone());
        }
        Step::done(plan, ())
    }

    /// Checks `handle` may still act (not fenced, not timed out) without changing anything
    /// but a timeout's abort.
    pub fn check(&mut self, transactional_id: &str, handle: Handle, now_ms: i64) -> Step<()> {
        match self.checked(transactional_id, handle, now_ms) {
            Ok(_) => Step::done(Plan::default(), ()),
            Err(failed) => Step::failed(failed.0, failed.1),
        }
    }

    /// Makes the transaction durable and prepared: its data flushed, then `Prepared`
    /// recorded. Only commit or abort may follow.
    pub fn prepare(&mut self, transactional_id: &str, handle: Handle, now_ms: i64) -> Step<()> {
        let meta = match self.checked(transactional_id, handle, now_ms) {
            Ok((meta, _)) => meta,
            Err(failed) => return Step::failed(failed.0, failed.1),
        };
        let flush = meta.partitions.iter().cloned().collect();
        meta.state = TxnState::Prepared;
        let plan = Plan {
            flush,
            record: Some(meta.clone()),
            ..Plan::default()
        };
        Step::done(plan, ())
    }

    /// Commits or aborts: (for a commit) the data flushed, the decision recorded durably,
    /// the markers written, the completion recorded lazily. A transaction that wrote
    /// nothing just ends.
    pub fn end(
        &mut self,
        transactional_id: &str,
        handle: Handle,
        now_ms: i64,
        kind: ControlKind,
    ) -> Step<()> {
        let meta = match self.checked(transactional_id, handle, now_ms) {
            Ok((meta, _)) => meta,
            Err(failed) => return Step::failed(failed.0, failed.1),
        };
        if meta.partitions.is_empty() && meta.state == TxnState::Ongoing {
            // Nothing was written: nothing to mark.
            meta.state = TxnState::Empty;
            return Step::done(Plan::default(), ());
        }
        let flush = match kind {
            // Data before decision: a crash after the decision must find it durable.
            ControlKind::Commit => meta.partitions.iter().cloned().collect(),
            ControlKind::Abort => Vec::new(),
        };
        meta.state = match kind {
            ControlKind::Commit => TxnState::PrepareCommit,
            ControlKind::Abort => TxnState::PrepareAbort,
        };
        let mut plan = finish(meta, kind);
        plan.flush = flush;
        plan.record = Some(meta.clone());
        Step::done(plan, ())
    }

    /// The ids whose open transaction ran past its timeout at `now_ms`.
    pub fn expired(&self, now_ms: i64) -> Vec<String> {
        self.txns
            .values()
            .filter(|m| timed_out(m, now_ms))
            .map(|m| m.transactional_id.clone())
            .collect()
    }

    /// Aborts `transactional_id`'s open transaction if it ran past its timeout (checked
    /// again: another operation of the id may have ended it since [`TxnTable::expired`]).
    pub fn expire(&mut self, transactional_id: &str, now_ms: i64) -> Option<Plan> {
        let meta = self.txns.get_mut(transactional_id)?;
        timed_out(meta, now_ms).then(|| abort_open(meta))
    }

    /// What recovery does for `transactional_id` after a restart: a decided transaction
    /// gets its markers, an open one is aborted, a prepared one waits.
    pub fn recover(&mut self, transactional_id: &str) -> Option<Plan> {
        let meta = self.txns.get_mut(transactional_id)?;
        match meta.state {
            TxnState::PrepareCommit => Some(finish(meta, ControlKind::Commit)),
            TxnState::PrepareAbort => Some(finish(meta, ControlKind::Abort)),
            TxnState::Ongoing => Some(abort_open(meta)),
            _ => None,
        }
    }

    /// Recovery found a span of `producer_id` at `epoch` open in a partition: an epoch the
    /// durable records may not know (the note of its first partition was lost in a crash).
    /// Raises the owning id's epoch to it, to be recorded durably before the span is
    /// ended, so no later transaction of the id is ever given that epoch again (its
    /// sequence numbers would collide with the lost transaction's batches).
    pub fn witness_epoch(&mut self, producer_id: u64, epoch: u16) -> Option<Plan> {
        let meta = self
            .txns
            .values_mut()
            .find(|m| m.producer_id == producer_id && m.epoch < epoch)?;
        meta.epoch = epoch;
        Some(Plan {
            record: Some(meta.clone()),
            ..Plan::default()
        })
    }

    /// Event: the markers of `write` are done. With every marker written (`all_written`)
    /// the transaction is complete and the returned state is to be recorded — lazily: if a
    /// crash loses it, recovery finds the decision and writes the markers again (each
    /// partition ignores a repeat). Otherwise it stays decided, waiting for the process
    /// owning the remaining partitions.
    pub fn markers_written(
        &mut self,
        write: &MarkerWrite,
        all_written: bool,
    ) -> Option<TxnMetadata> {
        let meta = self.txns.get_mut(&write.transactional_id)?;
        let decided = match write.kind {
            ControlKind::Commit => TxnState::PrepareCommit,
            ControlKind::Abort => TxnState::PrepareAbort,
        };
        if !all_written || meta.producer_id != write.producer_id || meta.state != decided {
            return None;
        }
        meta.state = match write.kind {
            ControlKind::Commit => TxnState::CompleteCommit,
            ControlKind::Abort => TxnState::CompleteAbort,
        };
        // Every marker is durable: recovery no longer needs the partition list.
        meta.partitions.clear();
        Some(meta.clone())
    }
}

/// Whether `meta`'s open transaction has run past its timeout.
fn timed_out(meta: &TxnMetadata, now_ms: i64) -> bool {
    meta.state == TxnState::Ongoing && meta.started_ms.saturating_add(meta.timeout_ms) < now_ms
}

/// Aborts an open transaction with a bumped epoch (fencing its producer): the decision
/// recorded durably, then the markers.
fn abort_open(meta: &mut TxnMetadata) -> Plan {
    meta.epoch = meta.epoch.saturating_add(1);
    meta.state = TxnState::PrepareAbort;
    let mut plan = finish(meta, ControlKind::Abort);
    plan.record = Some(meta.clone());
    plan
}

/// The markers that complete `meta`'s (already decided) transaction.
fn finish(meta: &TxnMetadata, kind: ControlKind) -> Plan {
    Plan {
        markers: Some(MarkerWrite {
            transactional_id: meta.transactional_id.clone(),
            producer_id: meta.producer_id,
            txn_epoch: meta.txn_epoch,
            fence_epoch: meta.epoch,
            kind,
            partitions: meta.partitions.clone(),
        }),
        ..Plan::default()
    }
}
