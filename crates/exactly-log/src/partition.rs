//! One partition: a directory of segments, its producer table, group commit and recovery.
//!
//! Locking: `state` guards the segments, offsets and producer table; `sync` serialises
//! `fdatasync` calls (group commit). Order is always `sync` → `state`; nothing holds `state`
//! while waiting for `sync`. Appends write under `state` and then wait for durability under
//! `sync`: while one appender syncs, the others queue behind it and find their bytes
//! already durable when they get the lock — one sync per group.

use crate::batch::{self, BatchHeader, ControlKind, EncodedBatch, StoredRecord};
use crate::config::{Durability, LogConfig};
use crate::durable_end::{self, DurableEnd};
use crate::error::{AppendError, OpenError, ReadError};
use crate::evidence::{self, EvidenceWriter};
use crate::index::SegmentIndex;
use crate::producer::{
    AbortedTxn, MarkerCheck, OngoingTxn, ProducerTable, SequenceCheck, SequenceViolation,
};
use crate::segment::{
    self, index_file_name, parse_file_name, segment_file_name, snapshot_file_name, ChunkReader,
    ScanDepth, Segment,
};
use exactly_core::storage::{read_file, write_file_atomically};
use exactly_core::{Clock, Offset, OpenMode, ProducerId, Storage, StorageFile, Timestamp};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Bytes a reader fetches at a time: reads usually stop long before a scan would.
const READ_CHUNK_BYTES_FOR_READS: usize = 256 << 10;

/// How often a read-only follower looks for new batches while waiting.
const FOLLOW_POLL: Duration = Duration::from_millis(20);

/// Producer snapshots kept per partition (older ones are deleted).
const SNAPSHOTS_KEPT: usize = 2;

/// The first I/O failure of a log, shared by all its partitions: once set, every operation
/// fails (an fsync error leaves the durable state unknown, so retrying could lie).
#[derive(Debug, Default)]
pub(crate) struct FailStop {
    reason: Mutex<Option<String>>,
}

impl FailStop {
    pub fn check(&self) -> Result<(), String> {
        match &*lock(&self.reason) {
            Some(reason) => Err(reason.clone()),
            None => Ok(()),
        }
    }

    /// Records the first failure and returns the reason in force.
    pub fn trip(&self, reason: String) -> String {
        lock(&self.reason).get_or_insert(reason).clone()
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The protected data stays consistent across a panic in another thread because every
    // mutation that can fail trips the fail-stop before returning.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A point in the partition's byte stream: segments are totally ordered by base offset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
struct WriteMark {
    segment_base: u64,
    position: u64,
}

/// The durable end and the file that records it (guarded together: the evidence is written
/// right after the sync that makes its claim true, in the order of the syncs).
struct DurableState {
    mark: WriteMark,
    evidence: Option<EvidenceWriter>,
}

/// What happened to an append.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppendOutcome {
    /// The batch was appended at these offsets.
    Appended {
        /// Offset of the first record.
        base_offset: Offset,
        /// Offset of the last record.
        last_offset: Offset,
    },
    /// The batch is a retry of one already appended; nothing was written.
    Duplicate {
        /// The original offsets, if still remembered (see the producer expiry policy).
        original: Option<(Offset, Offset)>,
    },
}

/// Which records a reader sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Isolation {
    /// Only committed data: stops at the last stable offset (the first offset of the oldest
    /// open transaction) and skips aborted transactions. The default.
    #[default]
    ReadCommitted,
    /// Everything visible, including open and aborted transactions' batches.
    ReadUncommitted,
}

/// Records from one read and where the next read continues.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadBatch {
    /// The records, in offset order (commit/abort markers are never returned).
    pub records: Vec<StoredRecord>,
    /// The offset to read from next.
    pub next_offset: Offset,
}

/// One segment as a reader may see it.
struct SegmentView {
    file: Arc<dyn StorageFile>,
    path: PathBuf,
    position: u64,
    len_bytes: u64,
    /// Records at or past this offset are not visible to the reader.
    limit: Offset,
    /// Aborted transactions the reader must skip.
    aborted: Vec<AbortedTxn>,
}

/// What recovery did to a partition when it was opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveryEvent {
    /// Segment file.
    pub file: PathBuf,
    /// Where the whole-batch prefix ends.
    pub truncated_at: u64,
    /// Bytes removed from the tail.
    pub bytes_removed: u64,
    /// Why the tail was not a whole batch.
    pub reason: String,
}

/// Sizes and offsets of a partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionInfo {
    /// First offset still stored.
    pub start_offset: Offset,
    /// Offset after the last record readers may see (durable, unless `Durability::None`).
    pub end_offset: Offset,
    /// Offset after the last record written (may include unsynced records).
    pub written_offset: Offset,
    /// Number of segment files.
    pub segments: usize,
    /// Total segment bytes.
    pub bytes: u64,
    /// Producer ids remembered.
    pub producers: usize,
    /// Where `read_committed` readers stop.
    pub last_stable_offset: Offset,
    /// Open transactions here; the oldest holds the last stable offset back.
    pub open_transactions: Vec<OngoingTxn>,
    /// Aborted transactions remembered for `read_committed` readers.
    pub aborted_transactions: usize,
}

/// What a producer id has appended to a partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProducerSummary {
    /// Current epoch.
    pub epoch: exactly_core::ProducerEpoch,
    /// Last appended sequence.
    pub last_sequence: Option<exactly_core::Sequence>,
}

struct PartitionState {
    sealed: Vec<Segment>,
    active: Segment,
    producers: ProducerTable,
    visible_end: Offset,
}

impl PartitionState {
    fn write_mark(&self) -> WriteMark {
        WriteMark {
            segment_base: self.active.base_offset().0,
            position: self.active.len_bytes(),
        }
    }

    fn start_offset(&self) -> Offset {
        self.sealed
            .first()
            .map_or(self.active.base_offset(), Segment::base_offset)
    }

    fn next_offset(&self) -> Offset {
        self.active.index.next_offset
    }

    /// The offset `read_committed` readers stop at: the first offset of the oldest open
    /// transaction, or the visible end.
    fn last_stable_offset(&self) -> Offset {
        self.producers
            .first_unstable_offset()
            .map_or(self.visible_end, |first| first.min(self.visible_end))
    }

    fn segments(&self) -> impl Iterator<Item = &Segment> {
        self.sealed.iter().chain(std::iter::once(&self.active))
    }
}

/// One partition of a topic.
pub(crate) struct Partition {
    dir: PathBuf,
    storage: Arc<dyn Storage>,
    clock: Arc<dyn Clock>,
    config: Arc<LogConfig>,
    fail: Arc<FailStop>,
    state: Mutex<PartitionState>,
    visible_changed: Condvar,
    durable: Mutex<DurableState>,
    recovery: Vec<RecoveryEvent>,
    mode: Mode,
    // A follower that shows only what the owner's durable-end evidence says is durable.
    durable_only: bool,
}

/// Whether a partition may write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The owning process: appends, recovery, retention.
    ReadWrite,
    /// A follower in another process: reads what the owner has written so far.
    ReadOnly,
}

impl std::fmt::Debug for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Partition").field("dir", &self.dir).finish()
    }
}

fn io_open(path: &Path) -> impl FnOnce(std::io::Error) -> OpenError + '_ {
    move |source| OpenError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Partition {
    /// Opens (or initialises) the partition in `dir`, recovering its tail. A read-only
    /// partition writes nothing: it neither creates, truncates nor syncs, and stops at the
    /// first incomplete batch (another process may be writing it).
    pub fn open(
        dir: PathBuf,
        storage: Arc<dyn Storage>,
        clock: Arc<dyn Clock>,
        config: Arc<LogConfig>,
        fail: Arc<FailStop>,
        mode: Mode,
    ) -> Result<Self, OpenError> {
        if mode == Mode::ReadWrite {
            storage.create_dir_all(&dir).map_err(io_open(&dir))?;
        }
        let names = storage.list_dir(&dir).map_err(io_open(&dir))?;
        // Read before the segments: a follower then never sees a claim beyond what it scans
        // (the owner writes the evidence only after the data's sync).
        let recorded = evidence::load(storage.as_ref(), &dir).map_err(|e| match e {
            evidence::LoadError::Io(path, source) => OpenError::Io { path, source },
            evidence::LoadError::Damaged(file, reason) => OpenError::Corrupt {
                file,
                position: 0,
                reason,
            },
        })?;
        let claim = evidence::strongest_claim(&names, recorded.map(|slot| slot.end));
        let mut bases: Vec<Offset> = names
            .iter()
            .filter_map(|n| parse_file_name(n, "log"))
            .collect();
        bases.sort();
        if bases.is_empty() && mode == Mode::ReadOnly {
            return Err(OpenError::Corrupt {
                file: dir.clone(),
                position: 0,
                reason: "partition has no segment files".into(),
            });
        }
        if bases.is_empty() {
            let path = dir.join(segment_file_name(Offset(0)));
            storage
                .open(&path, OpenMode::CreateOrOpen)
                .map_err(io_open(&path))?;
            storage.sync_dir(&dir).map_err(io_open(&dir))?;
            bases.push(Offset(0));
        }
        let mut opener = Opener {
            dir: &dir,
            storage: storage.as_ref(),
            config: &config,
            mode,
        };
        let Some((active_base, sealed_bases)) = bases.split_last() else {
            return Err(OpenError::BadConfig("no segments".into()));
        };
        let mut sealed = Vec::with_capacity(sealed_bases.len());
        for base in sealed_bases {
            let segment = opener.load_sealed(*base)?;
            opener.check_continuity(sealed.last(), &segment)?;
            sealed.push(segment);
        }
        let (active, active_headers, recovery) = opener.recover_active(*active_base, claim)?;
        opener.check_continuity(sealed.last(), &active)?;
        let mut state = PartitionState {
            sealed,
            active,
            producers: ProducerTable::default(),
            visible_end: Offset(0),
        };
        state.visible_end = state.next_offset();
        if mode == Mode::ReadWrite {
            opener.remove_snapshots_after(&names, state.next_offset())?;
        }
        // Followers need the transaction state too: `read_committed` depends on it.
        state.producers =
            opener.rebuild_producers(&names, &state, active_headers, clock.now_ms())?;
        let evidence = match mode == Mode::ReadWrite && config.durable_end_evidence {
            true => {
                // Everything recovered was synced above: the claim is true.
                let end = DurableEnd {
                    segment_base: state.active.base_offset(),
                    position: state.active.len_bytes(),
                    next_offset: state.next_offset(),
                };
                let interval = config.durable_end_sync_interval_ms;
                let writer = EvidenceWriter::open(
                    storage.as_ref(),
                    &dir,
                    recorded,
                    end,
                    clock.now_ms(),
                    interval,
                )
                .map_err(io_open(&evidence::path_in(&dir)))?;
                Some(writer)
            }
            false => None,
        };
        let durable = Mutex::new(DurableState {
            mark: state.write_mark(),
            evidence,
        });
        Ok(Self {
            dir,
            storage,
            clock,
            config,
            fail,
            state: Mutex::new(state),
            visible_changed: Condvar::new(),
            durable,
            recovery: recovery.into_iter().collect(),
            mode,
            durable_only: false,
        })
    }

    /// What recovery did when this partition was opened.
    pub fn recovery_events(&self) -> &[RecoveryEvent] {
        &self.recovery
    }

    fn fail_stopped(&self, reason: String) -> AppendError {
        AppendError::FailStopped {
            reason: self.fail.trip(reason),
        }
    }

    /// Appends an encoded batch, de-duplicating idempotent retries.
    pub fn append(&self, batch: &mut EncodedBatch) -> Result<AppendOutcome, AppendError> {
        // A transaction's data need not be durable before its commit or prepare, which
        // flushes every partition of the transaction before recording the decision; until
        // then `read_committed` readers cannot see it, and a crash aborts the transaction
        // anyway. Waiting here would cost one fsync per send.
        let wait = batch.attributes & batch::ATTR_TRANSACTIONAL == 0;
        self.append_waiting(batch, wait)
    }

    /// Appends, waiting for durability (per the log's `Durability`) only if `wait`. Only
    /// records whose loss recovery repairs may skip the wait (a transaction's completion).
    pub fn append_waiting(
        &self,
        batch: &mut EncodedBatch,
        wait: bool,
    ) -> Result<AppendOutcome, AppendError> {
        if self.mode == Mode::ReadOnly {
            return Err(AppendError::ReadOnly);
        }
        let mut state = lock(&self.state);
        self.fail
            .check()
            .map_err(|reason| AppendError::FailStopped { reason })?;
        if let Some(stamp) = batch.producer {
            if batch.attributes & batch::ATTR_TRANSACTIONAL != 0 {
                state
                    .producers
                    .check_transactional(stamp)
                    .map_err(|v| violation_error(stamp.producer_id, stamp, v))?;
            }
            let verdict = state.producers.check(
                stamp,
                batch.record_count,
                self.config.producers_per_partition_max,
            );
            let original = match verdict {
                Ok(SequenceCheck::Append) => None,
                Ok(SequenceCheck::Duplicate {
                    base_offset,
                    last_offset,
                }) => Some(Some((base_offset, last_offset))),
                Ok(SequenceCheck::DuplicateOffsetsUnknown) => Some(None),
                Err(violation) => return Err(violation_error(stamp.producer_id, stamp, violation)),
            };
            if let Some(original) = original {
                // The original may still be unsynced: acknowledge the retry only once it is
                // as durable as a fresh append would be.
                let mark = state.write_mark();
                drop(state);
                self.await_durability(mark)?;
                return Ok(AppendOutcome::Duplicate { original });
            }
        }
        let base_offset = self.write_batch(&mut state, batch)?;
        let last_offset = batch.header(base_offset).last_offset();
        let mark = state.write_mark();
        drop(state);
        if wait {
            self.await_durability(mark)?;
        }
        Ok(AppendOutcome::Appended {
            base_offset,
            last_offset,
        })
    }

    /// Rolls if needed, stamps the next offset, writes the batch and indexes it (under the
    /// state lock). Any failure trips the fail-stop.
    fn write_batch(
        &self,
        state: &mut PartitionState,
        batch: &mut EncodedBatch,
    ) -> Result<Offset, AppendError> {
        let needed = state.active.len_bytes() + batch.len_bytes() as u64;
        if needed > self.config.segment_bytes_max && state.active.len_bytes() > 0 {
            self.roll(state).map_err(|r| self.fail_stopped(r))?;
        }
        let base_offset = state.next_offset();
        let position = state.active.len_bytes();
        let header = batch.header(base_offset);
        let bytes = batch.seal(base_offset);
        if let Err(e) = state.active.file.write_at(position, bytes) {
            let reason = format!("write to {} failed: {e}", state.active.path.display());
            return Err(self.fail_stopped(reason));
        }
        self.index_appended(state, position, &header);
        Ok(base_offset)
    }

    fn index_appended(&self, state: &mut PartitionState, position: u64, header: &BatchHeader) {
        state.active.index.on_batch(
            position,
            header.base_offset,
            header.next_offset(),
            header.max_timestamp,
            u64::from(header.batch_len),
        );
        state.producers.record(header, self.clock.now_ms());
        if self.config.durability == Durability::None {
            state.visible_end = state.next_offset();
            self.visible_changed.notify_all();
        }
    }

    fn await_durability(&self, mark: WriteMark) -> Result<(), AppendError> {
        match self.config.durability {
            Durability::Immediate => self.make_durable(mark),
            Durability::Interval(_) | Durability::None => Ok(()),
        }
    }

    /// Group commit: makes every byte up to `target` durable, syncing at most once for all
    /// appenders waiting at the same time.
    fn make_durable(&self, target: WriteMark) -> Result<(), AppendError> {
        let mut durable = lock(&self.durable);
        if durable.mark >= target {
            return Ok(());
        }
        self.fail
            .check()
            .map_err(|reason| AppendError::FailStopped { reason })?;
        let (file, path, mark, next_offset) = {
            let state = lock(&self.state);
            let a = &state.active;
            (
                Arc::clone(&a.file),
                a.path.clone(),
                state.write_mark(),
                state.next_offset(),
            )
        };
        if let Err(e) = file.sync_data() {
            return Err(self.fail_stopped(format!("fdatasync of {} failed: {e}", path.display())));
        }
        debug_assert!(mark >= durable.mark, "the durable mark only moves forward");
        durable.mark = mark;
        if let Some(writer) = durable.evidence.as_mut() {
            let end = DurableEnd {
                segment_base: Offset(mark.segment_base),
                position: mark.position,
                next_offset,
            };
            if let Err(e) = writer.record(end, self.clock.now_ms()) {
                let reason = format!("writing {} failed: {e}", writer.path().display());
                return Err(self.fail_stopped(reason));
            }
        }
        drop(durable);
        self.publish_visible(next_offset);
        Ok(())
    }

    fn publish_visible(&self, next_offset: Offset) {
        let mut state = lock(&self.state);
        if next_offset > state.visible_end {
            state.visible_end = next_offset;
            self.visible_changed.notify_all();
        }
    }

    /// Syncs everything written so far.
    pub fn flush(&self) -> Result<(), AppendError> {
        if self.mode == Mode::ReadOnly {
            return Ok(());
        }
        // A fail-stopped log must not report a successful flush, even when this partition
        // has nothing unsynced (`make_durable` returns early before checking).
        self.fail
            .check()
            .map_err(|reason| AppendError::FailStopped { reason })?;
        let mark = lock(&self.state).write_mark();
        self.make_durable(mark)
    }

    /// Seals the active segment and starts a new one (under the state lock).
    fn roll(&self, state: &mut PartitionState) -> Result<(), String> {
        let old = &state.active;
        old.file
            .sync_data()
            .map_err(|e| format!("fdatasync of {} failed: {e}", old.path.display()))?;
        let index_path = self.dir.join(index_file_name(old.base_offset()));
        write_file_atomically(self.storage.as_ref(), &index_path, &old.index.encode())
            .map_err(|e| format!("writing {} failed: {e}", index_path.display()))?;
        let base = state.next_offset();
        let path = self.dir.join(segment_file_name(base));
        let file = self
            .storage
            .open(&path, OpenMode::CreateNew)
            .map_err(|e| format!("creating {} failed: {e}", path.display()))?;
        self.storage
            .sync_dir(&self.dir)
            .map_err(|e| format!("fsync of {} failed: {e}", self.dir.display()))?;
        self.write_snapshot(state, base)?;
        let new = Segment {
            path,
            file,
            index: SegmentIndex::new(base, self.config.index_interval_bytes),
        };
        let sealed = std::mem::replace(&mut state.active, new);
        state.sealed.push(sealed);
        if base > state.visible_end {
            state.visible_end = base;
            self.visible_changed.notify_all();
        }
        self.apply_retention(state);
        Ok(())
    }

    fn write_snapshot(
        &self,
        state: &mut PartitionState,
        next_offset: Offset,
    ) -> Result<(), String> {
        state
            .producers
            .expire(self.clock.now_ms(), self.config.producer_expiry_ms);
        let path = self.dir.join(snapshot_file_name(next_offset));
        let bytes = state.producers.encode_snapshot(next_offset).map_err(|e| {
            format!(
                "encoding the producer snapshot {} failed: {e}",
                path.display()
            )
        })?;
        write_file_atomically(self.storage.as_ref(), &path, &bytes)
            .map_err(|e| format!("writing {} failed: {e}", path.display()))?;
        self.prune_snapshots(state.start_offset());
        Ok(())
    }

    /// Deletes all but the newest snapshots, and any from before the log start. Failures
    /// only leave an extra file behind, so they are not errors.
    fn prune_snapshots(&self, start_offset: Offset) {
        let Ok(names) = self.storage.list_dir(&self.dir) else {
            return;
        };
        let mut snapshots: Vec<Offset> = names
            .iter()
            .filter_map(|n| parse_file_name(n, "snapshot"))
            .collect();
        snapshots.sort_by(|a, b| b.cmp(a));
        for (rank, offset) in snapshots.into_iter().enumerate() {
            if rank >= SNAPSHOTS_KEPT || offset < start_offset {
                let _ = self
                    .storage
                    .remove_file(&self.dir.join(snapshot_file_name(offset)));
            }
        }
    }

    /// Deletes the oldest sealed segments beyond the size or age limits.
    fn apply_retention(&self, state: &mut PartitionState) -> usize {
        let now_ms = self.clock.now_ms();
        let mut removed = 0;
        while let Some(oldest) = state.sealed.first() {
            let total: u64 = state.segments().map(Segment::len_bytes).sum();
            let too_big = self.config.retention_bytes.is_some_and(|max| total > max);
            let too_old = self
                .config
                .retention_ms
                .is_some_and(|ms| oldest.index.max_timestamp.0 < now_ms.saturating_sub(ms));
            if !(too_big || too_old) {
                break;
            }
            let segment = state.sealed.remove(0);
            // Readers holding the file handle keep reading; the name goes now.
            let _ = self.storage.remove_file(&segment.path);
            let _ = self
                .storage
                .remove_file(&self.dir.join(index_file_name(segment.base_offset())));
            removed += 1;
        }
        if removed > 0 {
            let start = state.start_offset();
            state.producers.prune_aborted(start);
            let _ = self.storage.sync_dir(&self.dir);
            self.prune_snapshots(state.start_offset());
        }
        removed
    }

    /// Applies retention now; returns the number of segments deleted.
    pub fn enforce_retention(&self) -> usize {
        if self.mode == Mode::ReadOnly {
            return 0;
        }
        let mut state = lock(&self.state);
        self.apply_retention(&mut state)
    }

    /// Writes a producer snapshot at the current end (clean shutdown: faster restart).
    pub fn checkpoint_producers(&self) -> Result<(), AppendError> {
        if self.mode == Mode::ReadOnly {
            return Ok(());
        }
        self.flush()?;
        {
            let mut durable = lock(&self.durable);
            if let Some(writer) = durable.evidence.as_mut() {
                if let Err(e) = writer.sync() {
                    let reason = format!("fsync of {} failed: {e}", writer.path().display());
                    return Err(self.fail_stopped(reason));
                }
            }
        }
        let mut state = lock(&self.state);
        let next = state.next_offset();
        self.write_snapshot(&mut state, next)
            .map_err(|r| self.fail_stopped(r))
    }

    /// Offsets and sizes.
    pub fn info(&self) -> PartitionInfo {
        self.refresh();
        let state = lock(&self.state);
        PartitionInfo {
            start_offset: state.start_offset(),
            end_offset: state.visible_end,
            written_offset: state.next_offset(),
            segments: state.sealed.len() + 1,
            bytes: state.segments().map(Segment::len_bytes).sum(),
            producers: state.producers.len(),
            last_stable_offset: state.last_stable_offset(),
            open_transactions: state.producers.ongoing().copied().collect(),
            aborted_transactions: state.producers.aborted_len(),
        }
    }

    /// What the partition remembers of `producer_id`.
    pub fn producer(&self, producer_id: ProducerId) -> Option<ProducerSummary> {
        let state = lock(&self.state);
        state.producers.get(producer_id).map(|e| ProducerSummary {
            epoch: exactly_core::ProducerEpoch(e.epoch),
            last_sequence: e.last_sequence().map(exactly_core::Sequence),
        })
    }

    /// Waits until a record at `offset` is visible or `timeout` passes; returns whether it is.
    pub fn wait_visible(&self, offset: Offset, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        self.refresh();
        let mut state = lock(&self.state);
        while state.visible_end <= offset {
            let now = Instant::now();
            if now >= deadline || self.fail.check().is_err() {
                return false;
            }
            if self.mode == Mode::ReadOnly {
                // Another process appends: nothing here will notify us, so poll its files.
                drop(state);
                std::thread::sleep(FOLLOW_POLL.min(deadline - now));
                self.refresh();
                state = lock(&self.state);
                continue;
            }
            state = match self.visible_changed.wait_timeout(state, deadline - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        true
    }

    /// Reads up to `max_records` records from `from` on, as `isolation` allows; the
    /// returned `next_offset` is where the next read continues (past skipped markers and
    /// aborted batches, which may leave `records` empty before the end).
    pub fn read_batch(
        &self,
        from: Offset,
        max_records: usize,
        isolation: Isolation,
    ) -> Result<ReadBatch, ReadError> {
        self.refresh();
        let mut out = Vec::new();
        let mut next = from;
        while out.len() < max_records {
            let Some(view) = self.locate(next, out.is_empty() && next == from, isolation)? else {
                break;
            };
            let reached = read_segment(
                &view,
                next,
                self.config.read_batch_bytes_max(),
                max_records,
                &mut out,
            )?;
            if reached <= next {
                break;
            }
            next = reached;
            if next >= view.limit {
                break;
            }
        }
        // Records were taken up to `max_records`; continue after the last one returned.
        if let Some(last) = out.last() {
            if out.len() >= max_records {
                next = last.offset.next();
            }
        }
        Ok(ReadBatch {
            records: out,
            next_offset: next,
        })
    }

    /// Finds the segment holding `offset` and what a reader at `isolation` may see of it.
    /// `None` when `offset` is at the reader's limit.
    fn locate(
        &self,
        offset: Offset,
        check_range: bool,
        isolation: Isolation,
    ) -> Result<Option<SegmentView>, ReadError> {
        let state = lock(&self.state);
        self.fail
            .check()
            .map_err(|reason| ReadError::FailStopped { reason })?;
        let (start, end) = (state.start_offset(), state.visible_end);
        if check_range && (offset < start || offset > end) {
            return Err(ReadError::OffsetOutOfRange {
                requested: offset,
                start,
                end,
            });
        }
        let limit = match isolation {
            Isolation::ReadUncommitted => end,
            Isolation::ReadCommitted => state.last_stable_offset(),
        };
        if offset >= limit {
            return Ok(None);
        }
        let segment = state
            .segments()
            .take_while(|s| s.base_offset() <= offset)
            .last()
            .unwrap_or(&state.active);
        let aborted = match isolation {
            Isolation::ReadUncommitted => Vec::new(),
            Isolation::ReadCommitted => state.producers.aborted_between(offset, limit),
        };
        Ok(Some(SegmentView {
            file: Arc::clone(&segment.file),
            path: segment.path.clone(),
            position: segment.index.position_for_offset(offset),
            len_bytes: segment.len_bytes(),
            limit,
            aborted,
        }))
    }

    /// Writes a commit/abort marker for `producer_id`'s transaction at `epoch`. Returns the
    /// marker's offset, or `None` when nothing of the producer is open here (a repeated
    /// marker). A marker older than the producer's epoch here is `ProducerFenced`.
    ///
    /// `epoch` is the transaction's own epoch (its batches carry it); `fence_epoch` (≥ it)
    /// is the coordinator's current epoch, raised here in memory afterwards so a batch of
    /// the ended transaction still on its way is refused.
    pub fn append_marker(
        &self,
        producer_id: ProducerId,
        epoch: exactly_core::ProducerEpoch,
        fence_epoch: exactly_core::ProducerEpoch,
        kind: ControlKind,
    ) -> Result<Option<Offset>, AppendError> {
        if self.mode == Mode::ReadOnly {
            return Err(AppendError::ReadOnly);
        }
        let now_ms = self.clock.now_ms();
        let stamp = batch::ProducerStamp {
            producer_id,
            epoch,
            base_sequence: exactly_core::Sequence(batch::NO_SEQUENCE),
        };
        let records = [kind.record(Timestamp(now_ms))];
        let mut marker = EncodedBatch::encode(
            &records,
            Some(stamp),
            kind.attributes(),
            self.config.batch_bytes_max,
        )?;
        let mut state = lock(&self.state);
        self.fail
            .check()
            .map_err(|reason| AppendError::FailStopped { reason })?;
        match state.producers.check_marker(producer_id, epoch) {
            Err(violation) => return Err(violation_error(producer_id, stamp, violation)),
            Ok(MarkerCheck::NothingOpen) => {
                // Fence a batch of the ended transaction still on its way here (see
                // `ProducerTable::fence`).
                state
                    .producers
                    .fence(producer_id, fence_epoch.max(epoch), now_ms);
                return Ok(None);
            }
            Ok(MarkerCheck::Write) => {}
        }
        let offset = self.write_batch(&mut state, &mut marker)?;
        state
            .producers
            .fence(producer_id, fence_epoch.max(epoch), now_ms);
        let mark = state.write_mark();
        drop(state);
        // The coordinator records completion only after every marker is durable — under
        // `Durability::None` too: the transaction's data and the completion record are
        // synced, so a lost marker left the transaction open in this partition forever
        // (a committed transaction invisible, and the LSO stuck behind it).
        self.make_durable(mark)?;
        Ok(Some(offset))
    }

    /// The first offset whose record has a timestamp ≥ `target`, if any is visible.
    pub fn offset_for_time(&self, target: Timestamp) -> Result<Option<Offset>, ReadError> {
        self.refresh();
        let state = lock(&self.state);
        // Like `read`: a fail-stopped log answers nothing (it used to keep answering).
        self.fail
            .check()
            .map_err(|reason| ReadError::FailStopped { reason })?;
        let visible_end = state.visible_end;
        for segment in state.segments() {
            if segment.index.max_timestamp < target {
                continue;
            }
            let position = segment.index.position_for_time(target);
            let found = find_time_in_segment(
                segment,
                position,
                target,
                visible_end,
                self.config.read_batch_bytes_max(),
            )?;
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }
}

impl Partition {
    /// Read-only followers: picks up batches and segments the owning process added since the
    /// last look, and forgets sealed segments it deleted. Problems (a batch being written
    /// right now) just end the look; the next one continues from the same place.
    /// Makes a follower show only records the owner has made durable, as its durable-end
    /// evidence says: a follow job then never processes a record that an OS crash of the
    /// owner's machine could still take back. Without an evidence file (a log written
    /// before it existed, or with the evidence switched off) everything written is shown.
    pub(crate) fn follow_durable_only(mut self) -> Self {
        self.durable_only = true;
        let limit = self.durable_limit();
        let state = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        state.visible_end = limit.map_or(state.next_offset(), |l| l.min(state.next_offset()));
        self
    }

    /// How far a durable-only follower may show: the evidence's durable next offset;
    /// `None` (no limit) without an evidence file or for other handles. An unreadable or
    /// damaged file (the owner may be rewriting a slot) shows nothing new: offset 0.
    fn durable_limit(&self) -> Option<Offset> {
        if !self.durable_only {
            return None;
        }
        match evidence::load(self.storage.as_ref(), &self.dir) {
            Ok(Some(slot)) => Some(slot.end.next_offset),
            Ok(None) => None,
            Err(_) => Some(Offset(0)),
        }
    }

    fn refresh(&self) {
        if self.mode == Mode::ReadWrite {
            return;
        }
        // Read before the data: the claim can only be below what the scan then finds.
        let limit = self.durable_limit();
        let mut state = lock(&self.state);
        self.scan_active_tail(&mut state);
        let Ok(names) = self.storage.list_dir(&self.dir) else {
            return;
        };
        let mut bases: Vec<Offset> = names
            .iter()
            .filter_map(|n| parse_file_name(n, "log"))
            .collect();
        bases.sort();
        state.sealed.retain(|s| bases.contains(&s.base_offset()));
        let active_base = state.active.base_offset();
        for base in bases.into_iter().filter(|b| *b > active_base) {
            if base != state.next_offset() {
                break; // The active segment is not complete yet in our view; look again later.
            }
            let path = self.dir.join(segment_file_name(base));
            let Ok(file) = self.storage.open(&path, OpenMode::Existing) else {
                break;
            };
            let new = Segment {
                path,
                file,
                index: SegmentIndex::new(base, self.config.index_interval_bytes),
            };
            let sealed = std::mem::replace(&mut state.active, new);
            state.sealed.push(sealed);
            self.scan_active_tail(&mut state);
        }
        let end = limit.map_or(state.next_offset(), |l| l.min(state.next_offset()));
        if end > state.visible_end {
            state.visible_end = end;
            self.visible_changed.notify_all();
        }
    }

    fn scan_active_tail(&self, state: &mut PartitionState) {
        let Ok(len) = state.active.file.len_bytes() else {
            return;
        };
        if len <= state.active.len_bytes() {
            return;
        }
        let index = state.active.index.clone();
        let scan = segment::scan_from(
            state.active.file.as_ref(),
            index,
            len,
            self.config.read_batch_bytes_max(),
            ScanDepth::Checksums,
        );
        state.active.index = scan.index;
        let now_ms = self.clock.now_ms();
        for header in &scan.producer_headers {
            state.producers.record(header, now_ms);
        }
    }
}

fn violation_error(
    producer_id: ProducerId,
    stamp: batch::ProducerStamp,
    violation: SequenceViolation,
) -> AppendError {
    match violation {
        SequenceViolation::Fenced { current } => AppendError::ProducerFenced {
            producer_id,
            epoch: stamp.epoch,
            current_epoch: current,
        },
        SequenceViolation::OutOfOrder { expected } => AppendError::OutOfOrderSequence {
            producer_id,
            expected,
            got: stamp.base_sequence,
        },
        SequenceViolation::Overflow => AppendError::SequenceOverflow {
            producer_id,
            base_sequence: stamp.base_sequence,
        },
        SequenceViolation::OlderTransactionOpen { open_epoch } => {
            AppendError::OlderTransactionOpen {
                producer_id,
                open_epoch,
                marker_epoch: stamp.epoch,
            }
        }
        SequenceViolation::TooManyProducers { max } => {
            AppendError::TooManyProducers { producer_id, max }
        }
    }
}

fn corrupt(path: &Path, position: u64, reason: impl ToString) -> ReadError {
    ReadError::Corrupt {
        file: path.to_path_buf(),
        position,
        reason: reason.to_string(),
    }
}

/// Decodes the records `≥ from` a reader may see from one segment into `out`; returns
/// the offset after the last batch looked at.
fn read_segment(
    view: &SegmentView,
    from: Offset,
    batch_bytes_max: u32,
    max_records: usize,
    out: &mut Vec<StoredRecord>,
) -> Result<Offset, ReadError> {
    let path = view.path.as_path();
    let mut reader = ChunkReader::with_chunk(
        view.file.as_ref(),
        view.position,
        view.len_bytes,
        READ_CHUNK_BYTES_FOR_READS,
    );
    let mut reached = from;
    while reader.position() < view.len_bytes && out.len() < max_records {
        let at = reader.position();
        let io = |source| ReadError::Io {
            path: path.to_path_buf(),
            source,
        };
        let head = reader.peek(batch::HEADER_BYTES).map_err(io)?;
        let header =
            batch::decode_header(head, batch_bytes_max).map_err(|e| corrupt(path, at, e))?;
        let len = header.batch_len as usize;
        // Checksum every batch before trusting its header: a flipped bit in the base offset
        // or record count used to make a damaged batch look skippable (or look past the
        // visible end), so reads silently returned nothing or skipped its records.
        let bytes = reader.peek(len).map_err(io)?;
        batch::check_batch(bytes, batch_bytes_max).map_err(|e| corrupt(path, at, e))?;
        // Offsets are dense: the first batch holds `from` or starts before it, every later
        // one continues the previous one. Anything else is damage, never a gap to skip.
        let continues = match reached == from && at == view.position {
            true => header.base_offset <= from,
            false => header.base_offset == reached,
        };
        if !continues {
            let reason = format!(
                "batch base offset {} breaks the offset sequence",
                header.base_offset
            );
            return Err(corrupt(path, at, reason));
        }
        if header.base_offset >= view.limit {
            break;
        }
        if header.next_offset() > from && is_readable(&header, &view.aborted) {
            // Decode straight into `out`, then cut what the reader must not get: records
            // before `from` (first batch only), at or past the limit, beyond `max_records`.
            let start = out.len();
            batch::decode_records(&header, bytes, out).map_err(|e| corrupt(path, at, e))?;
            // `start` was `out.len()` before decoding only appended, so the tail exists.
            #[allow(clippy::expect_used)]
            let decoded = out
                .get(start..)
                .expect("start <= out.len(): decoding only appends");
            let before = decoded.partition_point(|r| r.offset < from);
            let visible = decoded.partition_point(|r| r.offset < view.limit);
            out.truncate(start + visible);
            out.drain(start..start + before.min(visible));
            out.truncate(max_records);
        }
        reached = header.next_offset().min(view.limit);
        reader.advance(len);
    }
    Ok(reached)
}

/// Markers are never records; a batch of an aborted transaction is invisible to
/// `read_committed` readers (whose `aborted` list is non-empty only for them).
fn is_readable(header: &BatchHeader, aborted: &[AbortedTxn]) -> bool {
    if header.is_control() {
        return false;
    }
    let Some(stamp) = header.producer.filter(|_| header.is_transactional()) else {
        return true;
    };
    !aborted.iter().any(|a| {
        a.producer_id == stamp.producer_id.0
            && a.first_offset <= header.base_offset.0
            && header.base_offset.0 < a.last_offset
    })
}

fn find_time_in_segment(
    segment: &Segment,
    position: u64,
    target: Timestamp,
    visible_end: Offset,
    batch_bytes_max: u32,
) -> Result<Option<Offset>, ReadError> {
    let path = &segment.path;
    let mut reader = ChunkReader::new(segment.file.as_ref(), position, segment.len_bytes());
    let mut records = Vec::new();
    while reader.position() < segment.len_bytes() {
        let at = reader.position();
        let header = segment::peek_batch(&mut reader, batch_bytes_max, ScanDepth::Checksums)
            .map_err(|reason| corrupt(path, at, reason))?;
        if header.base_offset >= visible_end {
            return Ok(None);
        }
        let len = header.batch_len as usize;
        if header.max_timestamp >= target {
            let bytes = reader.peek(len).map_err(|source| ReadError::Io {
                path: path.clone(),
                source,
            })?;
            batch::decode_records(&header, bytes, &mut records)
                .map_err(|e| corrupt(path, at, e))?;
            let hit = records
                .iter()
                .find(|r| r.timestamp >= target && r.offset < visible_end)
                .map(|r| r.offset);
            if hit.is_some() {
                return Ok(hit);
            }
            records.clear();
        }
        reader.advance(len);
    }
    Ok(None)
}

/// The refusal when the valid batches of the active segment end below `claim`.
pub(crate) fn durable_data_lost(
    path: &Path,
    base: Offset,
    len: u64,
    scan: &segment::ScanOutcome,
    claim: &DurableEnd,
) -> Option<OpenError> {
    let valid_bytes = scan.stop.as_ref().map_or(len, |s| s.position);
    let lost = durable_end::shortfall(claim, base, valid_bytes, scan.index.next_offset)?;
    let evidence = match lost.durable_position {
        Some(p) => format!(
            "{} says durable up to byte {p}",
            durable_end::DURABLE_END_FILE
        ),
        None => format!(
            "durability evidence (durable-end file or producer snapshot) names offset {}",
            lost.durable_next_offset
        ),
    };
    let reason = match &scan.stop {
        Some(stop) => stop.reason.clone(),
        None => format!("the file ends at byte {len}"),
    };
    Some(OpenError::DurableDataLost {
        file: path.to_path_buf(),
        position: valid_bytes,
        first_lost_offset: lost.first_lost_offset,
        durable_next_offset: lost.durable_next_offset,
        evidence,
        reason,
    })
}

/// Opening helpers, grouped so `Partition::open` reads as a list of steps.
struct Opener<'a> {
    dir: &'a Path,
    storage: &'a dyn Storage,
    config: &'a LogConfig,
    mode: Mode,
}

impl Opener<'_> {
    fn open_segment_file(
        &self,
        base: Offset,
    ) -> Result<(PathBuf, Arc<dyn StorageFile>, u64), OpenError> {
        let path = self.dir.join(segment_file_name(base));
        let file = self
            .storage
            .open(&path, OpenMode::Existing)
            .map_err(io_open(&path))?;
        let len = file.len_bytes().map_err(io_open(&path))?;
        Ok((path, file, len))
    }

    /// A sealed segment: index from its file, or rebuilt from a header scan if missing or
    /// damaged. Sealed segments were fsynced before the roll, so any damage is corruption.
    fn load_sealed(&mut self, base: Offset) -> Result<Segment, OpenError> {
        let (path, file, len) = self.open_segment_file(base)?;
        let index_path = self.dir.join(index_file_name(base));
        let interval = self.config.index_interval_bytes;
        let stored = read_file(self.storage, &index_path)
            .ok()
            .and_then(|bytes| SegmentIndex::decode(&bytes, base, len, interval));
        let index = match stored {
            Some(index) => index,
            None => {
                let scan = segment::scan_segment(
                    file.as_ref(),
                    base,
                    len,
                    self.config.read_batch_bytes_max(),
                    interval,
                    ScanDepth::Headers,
                );
                if let Some(stop) = scan.stop {
                    return Err(OpenError::Corrupt {
                        file: path,
                        position: stop.position,
                        reason: format!("sealed segment: {}", stop.reason),
                    });
                }
                if self.mode == Mode::ReadWrite {
                    write_file_atomically(self.storage, &index_path, &scan.index.encode())
                        .map_err(io_open(&index_path))?;
                }
                scan.index
            }
        };
        Ok(Segment { path, file, index })
    }

    fn check_continuity(
        &self,
        previous: Option<&Segment>,
        next: &Segment,
    ) -> Result<(), OpenError> {
        match previous {
            Some(prev) if prev.index.next_offset != next.base_offset() => Err(OpenError::Corrupt {
                file: next.path.clone(),
                position: 0,
                reason: format!(
                    "segment starts at offset {} but the previous one ends at {}",
                    next.base_offset(),
                    prev.index.next_offset
                ),
            }),
            _ => Ok(()),
        }
    }

    /// The active segment: every batch checksummed; a damaged tail with nothing valid after
    /// it is a torn write and is truncated; valid data after damage is corruption.
    #[allow(clippy::type_complexity)]
    fn recover_active(
        &mut self,
        base: Offset,
        claim: Option<DurableEnd>,
    ) -> Result<(Segment, Vec<BatchHeader>, Option<RecoveryEvent>), OpenError> {
        let (path, file, len) = self.open_segment_file(base)?;
        let scan = segment::scan_segment(
            file.as_ref(),
            base,
            len,
            self.config.read_batch_bytes_max(),
            self.config.index_interval_bytes,
            ScanDepth::Checksums,
        );
        // A follower may have listed the segments just before the owner rolled to a new
        // one: a claim about a segment it does not see yet says nothing about this one.
        let judged = claim.filter(|c| self.mode == Mode::ReadWrite || c.segment_base <= base);
        let lost = judged.and_then(|c| durable_data_lost(&path, base, len, &scan, &c));
        if scan.stop.is_none() {
            if let Some(lost) = lost {
                return Err(lost); // The file is shorter than what was durable.
            }
        }
        let mut event = None;
        if let Some(stop) = scan.stop {
            let next = scan.index.next_offset;
            let later = segment::valid_batch_after(
                file.as_ref(),
                stop.position,
                len,
                next,
                self.config.read_batch_bytes_max(),
            )
            .map_err(io_open(&path))?;
            if let Some(valid_at) = later {
                return Err(OpenError::Corrupt {
                    file: path,
                    position: stop.position,
                    reason: format!(
                        "{} (and a valid batch follows at byte {valid_at})",
                        stop.reason
                    ),
                });
            }
            if let Some(lost) = lost {
                // Damage below the evidence is not a torn write: the data was durable.
                return Err(lost);
            }
            if self.mode == Mode::ReadOnly {
                // The owner may be writing this batch right now: just stop before it.
                return Ok((
                    Segment {
                        path,
                        file,
                        index: scan.index,
                    },
                    scan.producer_headers,
                    None,
                ));
            }
            file.set_len(stop.position).map_err(io_open(&path))?;
            event = Some(RecoveryEvent {
                file: path.clone(),
                truncated_at: stop.position,
                bytes_removed: len - stop.position,
                reason: stop.reason,
            });
        }
        // What survived a crash is on disk, but what a clean exit left may be only in the
        // page cache: make it durable before anybody reads it.
        if self.mode == Mode::ReadWrite {
            file.sync_data().map_err(io_open(&path))?;
        }
        let segment = Segment {
            path,
            file,
            index: scan.index,
        };
        Ok((segment, scan.producer_headers, event))
    }

    /// Deletes producer snapshots past `next_offset`. They describe batches that recovery
    /// just truncated (a damaged tail after a clean close); left on disk, they were picked up
    /// again once new appends carried the log past them — remembering the truncated batches
    /// and missing the new ones. Durable before any new append can reach them.
    fn remove_snapshots_after(
        &self,
        names: &[String],
        next_offset: Offset,
    ) -> Result<(), OpenError> {
        let stale: Vec<Offset> = names
            .iter()
            .filter_map(|n| parse_file_name(n, "snapshot"))
            .filter(|o| *o > next_offset)
            .collect();
        if stale.is_empty() {
            return Ok(());
        }
        for offset in stale {
            let path = self.dir.join(snapshot_file_name(offset));
            self.storage.remove_file(&path).map_err(io_open(&path))?;
        }
        self.storage.sync_dir(self.dir).map_err(io_open(self.dir))
    }

    /// Producer table: the newest usable snapshot plus every idempotent batch after it.
    fn rebuild_producers(
        &mut self,
        names: &[String],
        state: &PartitionState,
        active_headers: Vec<BatchHeader>,
        now_ms: i64,
    ) -> Result<ProducerTable, OpenError> {
        let (from, mut table) = self.newest_snapshot(names, state);
        for segment in &state.sealed {
            if segment.index.next_offset <= from {
                continue;
            }
            let scan = segment::scan_segment(
                segment.file.as_ref(),
                segment.base_offset(),
                segment.len_bytes(),
                self.config.read_batch_bytes_max(),
                self.config.index_interval_bytes,
                // Checksummed, and a stop is an error: a headers-only scan whose stop was
                // ignored silently dropped (or invented) producer sequences from damage.
                ScanDepth::Checksums,
            );
            if let Some(stop) = scan.stop {
                return Err(OpenError::Corrupt {
                    file: segment.path.clone(),
                    position: stop.position,
                    reason: format!("sealed segment needed for producer state: {}", stop.reason),
                });
            }
            for header in scan
                .producer_headers
                .iter()
                .filter(|h| h.base_offset >= from)
            {
                table.record(header, now_ms);
            }
        }
        for header in active_headers.iter().filter(|h| h.base_offset >= from) {
            table.record(header, now_ms);
        }
        table.expire(now_ms, self.config.producer_expiry_ms);
        Ok(table)
    }

    fn newest_snapshot(&self, names: &[String], state: &PartitionState) -> (Offset, ProducerTable) {
        let mut offsets: Vec<Offset> = names
            .iter()
            .filter_map(|n| parse_file_name(n, "snapshot"))
            .filter(|o| *o >= state.start_offset() && *o <= state.next_offset())
            .collect();
        offsets.sort_by(|a, b| b.cmp(a));
        for offset in offsets {
            let path = self.dir.join(snapshot_file_name(offset));
            let decoded = read_file(self.storage, &path)
                .ok()
                .and_then(|bytes| ProducerTable::decode_snapshot(&bytes));
            if let Some((at, table)) = decoded.filter(|(at, _)| *at == offset) {
                return (at, table);
            }
        }
        (state.start_offset(), ProducerTable::default())
    }
}
