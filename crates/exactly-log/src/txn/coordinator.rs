//! [`TxnCoordinator`]: the driver of the [`TxnTable`]. It takes a transition under the
//! table lock, releases it, then performs the transition's [`Plan`] — flushes, the durable
//! state record, markers, the lazy completion record — so producers of different
//! transactional ids overlap their I/O (their state records share the fsyncs of
//! `__transactions`' group commit).
//!
//! # Races
//! The table lock used to be held across every fsync; it is now held only for in-memory
//! transitions, and what it used to prevent is prevented by a lock per transactional id,
//! held from the transition to the end of its plan:
//! - two operations on one id (a zombie committing while a new instance takes over, a
//!   commit and a timeout abort) run one after the other: the second sees the first's
//!   state and is fenced or finds nothing to do, exactly as under the global lock;
//! - `expire_transactions` lists candidates, then takes each id's lock and checks the
//!   timeout again, so it never aborts a transaction a commit has ended meanwhile.
//!
//! Lock order: an id's lock, then (benchmark baseline only) the global I/O lock, then the
//! table lock, which is never held while another lock is taken or I/O is performed.

use super::error::TxnError;
use super::history;
use super::markers::{self, MarkerDurability, PendingMarker, SpanAction};
use super::offsets::OffsetsView;
use super::snapshot::{self, Snapshot};
use super::table::{MarkerWrite, Plan, Step, TxnMetadata, TxnState, TxnTable};
use super::topics::TRANSACTIONS_TOPIC;
use super::trailing::Trailing;
use crate::batch::ControlKind;
use crate::config::MarkerSync;
use crate::error::MaintenanceError;
use crate::log::{Extension, Log};
use crate::meters::TxnMeters;
use crate::partition::lock;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The table and where its history stands.
#[derive(Debug, Default)]
struct Loaded {
    table: Option<TxnTable>,
    /// The snapshot the table was loaded from, or the last one written.
    base: Snapshot,
    /// Records of `__transactions` appended or replayed since `base`.
    since_snapshot: u64,
}

/// The transaction coordinator of one [`Log`] handle.
#[derive(Debug)]
pub(crate) struct TxnCoordinator {
    loaded: Mutex<Loaded>,
    ids: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    pending: Mutex<Vec<PendingMarker>>,
    /// Benchmark baseline: one global lock around every operation's I/O (the old design).
    serialize_io: AtomicBool,
    io: Mutex<()>,
    /// Records between automatic snapshots (0: never).
    snapshot_interval: AtomicU64,
    snapshotting: Mutex<()>,
    /// Markers written but not yet durable.
    trailing: Trailing,
    /// Committed consumer positions.
    pub(crate) offsets: OffsetsView,
    meters: TxnMeters,
}

impl Default for TxnCoordinator {
    fn default() -> Self {
        Self {
            loaded: Mutex::default(),
            ids: Mutex::default(),
            pending: Mutex::default(),
            serialize_io: AtomicBool::new(false),
            io: Mutex::new(()),
            snapshot_interval: AtomicU64::new(snapshot::DEFAULT_INTERVAL_RECORDS),
            snapshotting: Mutex::new(()),
            trailing: Trailing::default(),
            offsets: OffsetsView::new(snapshot::DEFAULT_INTERVAL_RECORDS),
            meters: TxnMeters::new(),
        }
    }
}

/// The coordinator of `log` (created on first use).
pub(crate) fn coordinator(log: &Log) -> &TxnCoordinator {
    let slot = log
        .extension()
        .get_or_init(|| Box::new(TxnCoordinator::default()));
    #[allow(clippy::expect_used)]
    // invariant: this function is the only one filling the slot, always with a coordinator.
    slot.as_any()
        .downcast_ref::<TxnCoordinator>()
        .expect("the log's extension slot holds the transaction coordinator")
}

/// The table, loaded on first use.
pub(crate) struct TableGuard<'a>(MutexGuard<'a, Loaded>);

impl TableGuard<'_> {
    pub(crate) fn table(&mut self) -> &mut TxnTable {
        #[allow(clippy::expect_used)]
        // invariant: `TxnCoordinator::table` returns a guard only once the table is loaded.
        self.0.table.as_mut().expect("the table is loaded")
    }
}

impl TxnCoordinator {
    /// Locks the table, loading it from the snapshot and the tail of `__transactions`
    /// the first time.
    pub(crate) fn table(&self, log: &Log) -> Result<TableGuard<'_>, TxnError> {
        let mut loaded = lock(&self.loaded);
        if loaded.table.is_none() {
            let (base, table, replayed) = snapshot::load(log)?;
            loaded.table = Some(table);
            loaded.base = base;
            loaded.since_snapshot = replayed;
        }
        Ok(TableGuard(loaded))
    }

    /// Forgets the table: the next use loads it again (records were added behind the
    /// coordinator's back).
    pub(crate) fn reload(&self) {
        lock(&self.loaded).table = None;
    }

    /// Restores the global I/O lock of the old design (benchmark baseline).
    pub(crate) fn set_serialize_io(&self, on: bool) {
        self.serialize_io.store(on, Ordering::SeqCst);
    }

    fn id_lock(&self, transactional_id: &str) -> Arc<Mutex<()>> {
        let mut ids = lock(&self.ids);
        Arc::clone(ids.entry(transactional_id.to_string()).or_default())
    }

    /// Runs `transition` on the table under `transactional_id`'s lock, performs its plan
    /// outside the table lock, and returns its outcome.
    pub(crate) fn run<T>(
        &self,
        log: &Log,
        transactional_id: &str,
        transition: impl FnOnce(&mut TxnTable, i64) -> Step<T>,
    ) -> Result<T, TxnError> {
        self.run_and_read(log, transactional_id, transition, |outcome, _| Ok(outcome))
    }

    /// [`TxnCoordinator::run`], then `read` the table while still holding the id's lock
    /// (so no other operation of the id comes between the plan and what is read).
    pub(crate) fn run_and_read<T, U>(
        &self,
        log: &Log,
        transactional_id: &str,
        transition: impl FnOnce(&mut TxnTable, i64) -> Step<T>,
        read: impl FnOnce(T, &TxnTable) -> Result<U, TxnError>,
    ) -> Result<U, TxnError> {
        let id_lock = self.id_lock(transactional_id);
        let _id = lock(&id_lock);
        let _serial = self
            .serialize_io
            .load(Ordering::SeqCst)
            .then(|| lock(&self.io));
        self.record_completions(log, self.trailing.take_durable(transactional_id))?;
        let now_ms = log.now_ms();
        let step = transition(self.table(log)?.table(), now_ms);
        self.perform(log, &step.plan)?;
        let state = (self.table(log)?.table())
            .get(transactional_id)
            .map(|meta| meta.state);
        self.meters.track(transactional_id, state);
        let outcome = step.outcome?;
        read(outcome, self.table(log)?.table())
    }

    /// Performs a plan: data flushed, then the state recorded durably, then the markers
    /// (their completion recorded once they are durable), then the note appended. A
    /// failed step stops it (the next open completes what the durable records say).
    fn perform(&self, log: &Log, plan: &Plan) -> Result<(), TxnError> {
        for (topic, partition) in &plan.flush {
            log.flush_partition(topic, *partition).inspect_err(|e| {
                tracing::error!(
                    topic = %topic,
                    partition,
                    error = %e,
                    "flushing a transaction's data failed"
                );
            })?;
        }
        if let Some(meta) = &plan.record {
            history::record(log, meta)?;
            self.recorded(log, 1);
            self.meter_decision(meta);
        }
        if let Some(write) = &plan.markers {
            self.write_markers(log, write)?;
        }
        if let Some(meta) = &plan.note {
            match self.serialize_io.load(Ordering::SeqCst) {
                // The old design (benchmark baseline) recorded it durably.
                true => history::record(log, meta)?,
                false => history::append(log, meta)?,
            }
            self.recorded(log, 1);
        }
        Ok(())
    }

    /// Counts a decision once it is durable.
    fn meter_decision(&self, meta: &TxnMetadata) {
        match meta.state {
            TxnState::PrepareCommit => self.meters.decided(true),
            TxnState::PrepareAbort => self.meters.decided(false),
            _ => {}
        }
    }

    /// Writes the markers of a durable decision. Unless the log's [`MarkerSync`] says
    /// `BeforeReturn` (or the benchmark baseline restores the old design), they trail it
    /// (see `trailing.rs`): the operation returns once they are written, and the
    /// completion is recorded once they are durable.
    fn write_markers(&self, log: &Log, write: &MarkerWrite) -> Result<(), TxnError> {
        let linger = match log.config().marker_sync {
            MarkerSync::BeforeReturn => None,
            MarkerSync::Trailing { linger_ms } => Some(Some(Duration::from_millis(linger_ms))),
            MarkerSync::WithNextSync => Some(None),
        };
        let linger = linger.filter(|_| !self.serialize_io.load(Ordering::SeqCst));
        let Some(linger) = linger else {
            let written = markers::write(log, write, MarkerDurability::Now)?;
            let completion = self.markers_out(log, write, written.pending)?;
            return self.record_completions(log, completion.into_iter().collect());
        };
        let queue = self
            .trailing
            .lock(linger)
            .map_err(|source| TxnError::SyncerStart {
                reason: source.to_string(),
            })?;
        let written = markers::write(log, write, MarkerDurability::Trailing)?;
        let completion = self.markers_out(log, write, written.pending)?;
        if written.syncs.is_empty() {
            // Every partition belongs to another owner: nothing to wait for here.
            drop(queue);
            return self.record_completions(log, completion.into_iter().collect());
        }
        queue.push(&write.transactional_id, completion, written.syncs);
        Ok(())
    }

    /// The markers are written: committed offsets take effect, markers left to another
    /// owner are noted, the table moves on. Returns the completion to record once the
    /// markers are durable (`None`: the transaction stays decided).
    fn markers_out(
        &self,
        log: &Log,
        write: &MarkerWrite,
        pending: Vec<PendingMarker>,
    ) -> Result<Option<TxnMetadata>, TxnError> {
        self.offsets.markers_written(log, write);
        let all_written = pending.is_empty();
        for marker in pending {
            self.note_pending(marker);
        }
        Ok(self.table(log)?.table().markers_written(write, all_written))
    }

    /// Records completions of transactions whose markers are durable — lazily: if a crash
    /// loses one, recovery finds the decision and writes the markers again. Called under
    /// the transactional id's lock (or at close), so the record lands in order.
    fn record_completions(&self, log: &Log, completed: Vec<TxnMetadata>) -> Result<(), TxnError> {
        for meta in completed {
            history::append(log, &meta)?;
            self.recorded(log, 1);
        }
        Ok(())
    }

    /// Counts records appended to `__transactions`; every `snapshot_interval` records
    /// writes a snapshot so the next open replays only the tail. A failed snapshot fails
    /// nothing else (the previous one stays valid): it is logged, and tried again at the
    /// next record.
    fn recorded(&self, log: &Log, count: u64) {
        let interval = self.snapshot_interval.load(Ordering::Relaxed);
        let due = {
            let mut loaded = lock(&self.loaded);
            loaded.since_snapshot += count;
            interval > 0 && loaded.since_snapshot >= interval
        };
        if due {
            if let Err(e) = self.snapshot(log) {
                tracing::warn!(
                    dir = %log.dir().display(),
                    error = %e,
                    "writing the transaction snapshot failed; the previous one stays in use"
                );
            }
            // Transactions commit positions too: their snapshot keeps the same pace.
            self.offsets.snapshot_logged(log);
        }
    }

    /// Sets the records between automatic snapshots (0: never).
    pub(crate) fn set_snapshot_interval(&self, records: u64) {
        self.snapshot_interval.store(records, Ordering::Relaxed);
        self.offsets.set_snapshot_interval(records);
    }

    /// Writes a snapshot of `__transactions` up to its current end now.
    pub(crate) fn snapshot(&self, log: &Log) -> Result<(), TxnError> {
        if !log.owns_topic(TRANSACTIONS_TOPIC) || log.partition_count(TRANSACTIONS_TOPIC).is_none()
        {
            return Ok(());
        }
        // One at a time; a snapshot already being written covers the caller's records
        // or the next one will.
        let Ok(_writing) = self.snapshotting.try_lock() else {
            return Ok(());
        };
        let base = {
            drop(self.table(log)?);
            lock(&self.loaded).base.clone()
        };
        // Every marker durable first, and none written until the snapshot is: a snapshot
        // forgets the decisions of transactions no longer open in a partition, and a
        // trailing marker closes its transaction before it is durable.
        let written = self.trailing.sync_all(|| snapshot::write(log, &base))??;
        let mut loaded = lock(&self.loaded);
        loaded.base = written;
        loaded.since_snapshot = 0;
        Ok(())
    }

    /// Records a marker left to another owner (once).
    pub(crate) fn note_pending(&self, pending: PendingMarker) {
        let mut noted = lock(&self.pending);
        let already = noted.iter_mut().find(|p| {
            (&p.topic, p.partition, p.producer_id, p.epoch)
                == (
                    &pending.topic,
                    pending.partition,
                    pending.producer_id,
                    pending.epoch,
                )
        });
        match already {
            // Found first as an open span in the partition, then named by its decision.
            Some(noted) if noted.transactional_id.is_none() => {
                noted.transactional_id = pending.transactional_id;
            }
            Some(_) => {}
            None => noted.push(pending),
        }
    }

    /// Every marker left to another owner.
    pub(crate) fn pending(&self) -> Vec<PendingMarker> {
        lock(&self.pending).clone()
    }

    /// A marker left pending for `transactional_id`'s decided transaction.
    pub(crate) fn pending_of(&self, transactional_id: &str) -> Option<PendingMarker> {
        lock(&self.pending)
            .iter()
            .find(|p| p.transactional_id.as_deref() == Some(transactional_id))
            .cloned()
    }

    /// Aborts open transactions that ran past their timeout; returns how many.
    pub(crate) fn expire(&self, log: &Log) -> Result<usize, TxnError> {
        let candidates = self.table(log)?.table().expired(log.now_ms());
        let mut aborted = 0;
        for id in candidates {
            let expired = self.run(log, &id, |table, now_ms| {
                let plan = table.expire(&id, now_ms);
                let expired = plan.is_some();
                Step {
                    // Not expired any more: nothing to do.
                    plan: plan.unwrap_or_else(Plan::default),
                    outcome: Ok(expired),
                }
            })?;
            if expired {
                self.offsets.begin(&id);
                aborted += 1;
            }
        }
        Ok(aborted)
    }

    /// Completes what a crash interrupted: first markers lost from partitions are written
    /// again from the recorded decisions, then decided transactions get their markers,
    /// open ones are aborted, prepared ones wait. Called when a log is opened.
    ///
    /// Lost markers come first: a marker trails its decision (`trailing.rs`), so an OS
    /// crash can take it while the id's next transaction is already recorded; aborting
    /// that newer transaction in the same partition before the older one is ended would
    /// be refused there (a producer has one open transaction per partition).
    pub(crate) fn recover(&self, log: &Log) -> Result<(), TxnError> {
        if log.partition_count(TRANSACTIONS_TOPIC).is_none() {
            return Ok(());
        }
        self.reconcile_lost_markers(log)?;
        let ids: Vec<String> = {
            let mut guard = self.table(log)?;
            guard
                .table()
                .all()
                .map(|m| m.transactional_id.clone())
                .collect()
        };
        for id in ids {
            self.run(log, &id, |table, _| Step {
                // Complete or prepared: nothing to recover.
                plan: table.recover(&id).unwrap_or_else(Plan::default),
                outcome: Ok(()),
            })?;
        }
        // What recovery completed is durable and visible before the log is handed out.
        self.settle_trailing(log)?;
        self.offsets.invalidate();
        Ok(())
    }

    /// Makes every trailing marker durable now and records the completions still due
    /// (each under its id's lock). The caller holds no id lock.
    fn settle_trailing(&self, log: &Log) -> Result<(), TxnError> {
        for meta in self.trailing.drain()? {
            let id_lock = self.id_lock(&meta.transactional_id);
            let _id = lock(&id_lock);
            self.record_completions(log, vec![meta])?;
        }
        Ok(())
    }

    /// Records, for each transaction found open in a partition, that its epoch was used
    /// (see [`TxnTable::witness_epoch`]) — durably, before the span is ended.
    fn witness_open_epochs(&self, log: &Log) -> Result<(), TxnError> {
        for (_, _, spans) in log.open_transactions() {
            for span in spans {
                let mut guard = self.table(log)?;
                let Some(plan) = guard.table().witness_epoch(span.producer_id, span.epoch) else {
                    continue;
                };
                drop(guard);
                self.perform(log, &plan)?;
            }
        }
        Ok(())
    }

    /// Ends every transaction still open in a partition with the decision recorded for it
    /// (prepared ones wait; undecided ones are presumed aborted).
    fn reconcile_lost_markers(&self, log: &Log) -> Result<(), TxnError> {
        if log.open_transactions().is_empty() {
            return Ok(());
        }
        self.witness_open_epochs(log)?;
        let prepared: Vec<TxnMetadata> = {
            let mut guard = self.table(log)?;
            guard
                .table()
                .all()
                .filter(|m| m.state == TxnState::Prepared)
                .cloned()
                .collect()
        };
        let base = lock(&self.loaded).base.clone();
        let decisions = snapshot::decisions(log, &base)?;
        let pending = markers::reconcile(log, |producer_id, epoch| {
            if prepared
                .iter()
                .any(|m| markers::is_transaction(m, producer_id, epoch))
            {
                return SpanAction::Wait;
            }
            match markers::decision_for(&decisions, producer_id, epoch) {
                Some(kind) => SpanAction::Write(kind),
                // No recorded decision: presumed abort (nothing was ever promised as
                // committed).
                None => SpanAction::Write(ControlKind::Abort),
            }
        })?;
        for marker in pending {
            self.note_pending(marker);
        }
        Ok(())
    }
}

impl Extension for TxnCoordinator {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    /// Makes every trailing marker durable and records the completions still due.
    fn before_close(&self, log: &Log) -> Result<(), MaintenanceError> {
        self.settle_trailing(log)
            .map_err(|e| MaintenanceError::FailStopped {
                reason: e.to_string(),
            })
    }
}
