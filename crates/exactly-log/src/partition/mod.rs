//! One partition: a directory of segments, its producer table, group commit and recovery.
//!
//! This file holds the partition's state and the types its roles share; each role lives in
//! a child module that adds methods to [`Partition`]:
//! - `append`: appends, idempotent de-duplication, group commit and durability;
//! - `roll`: rolling to a new segment, retention, producer snapshots;
//! - `read`: the read path (locate, decode, isolation), time lookup, waiting for data;
//! - `markers`: transaction commit/abort markers;
//! - `follower`: a read-only follower picking up what another process writes;
//! - `recovery`: opening a partition and recovering its tail (`Opener`);
//! - `consistency`: invariant checks of the state, run after each mutation in debug builds.
//!
//! This module depends on none of its children except to re-export their public types;
//! children use this module's types, and each other only along `markers → append → roll`,
//! `read → follower`, and every mutating role → `consistency` (its debug hook).
//!
//! Locking: `state` guards the segments, offsets and producer table; `durable` holds the
//! durable end and its evidence file and the group commit's syncs in flight, but is never
//! held across an `fdatasync`. Order is always `durable` → `state`; nothing holds `state`
//! while waiting for `durable`. Appends write under `state` and then wait for durability:
//! an appender starts a sync of everything written so far unless one in flight covers its
//! bytes (at most two run at once), the others wait on `durable_changed` and return once a
//! sync covered their bytes — one sync per group.

mod append;
mod consistency;
mod follower;
mod markers;
mod read;
mod recovery;
mod roll;

pub use append::AppendOutcome;
pub use consistency::Inconsistency;
pub(crate) use markers::MarkerSync;
pub use read::{Isolation, ReadBatch};
pub(crate) use recovery::durable_data_lost;

use crate::config::LogConfig;
use crate::error::{AppendError, OpenError};
use crate::evidence::EvidenceWriter;
use crate::meters::PartitionMeters;
use crate::producer::{OngoingTxn, ProducerTable};
use crate::segment::Segment;
use exactly_core::{Clock, Offset, ProducerId, Storage};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

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
    /// Group-commit syncs running (without holding the lock).
    in_flight: u32,
    /// The highest mark a running sync was started at (meaningful while `in_flight > 0`).
    in_flight_mark: WriteMark,
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
    /// Signalled when a group-commit sync ends (the durable mark moved, or it failed).
    durable_changed: Condvar,
    recovery: Vec<RecoveryEvent>,
    meters: PartitionMeters,
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

/// The error for an I/O failure on `path` while opening, logged where it happens.
fn io_open(path: &Path) -> impl FnOnce(std::io::Error) -> OpenError + '_ {
    move |source| {
        tracing::warn!(path = %path.display(), error = %source, "opening a partition failed");
        OpenError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

impl Partition {
    /// What recovery did when this partition was opened.
    pub fn recovery_events(&self) -> &[RecoveryEvent] {
        &self.recovery
    }

    /// Trips the log's fail-stop after an I/O failure (`reason` names the file) and logs it.
    fn fail_stopped(&self, reason: String) -> AppendError {
        tracing::error!(partition = %self.dir.display(), %reason, "I/O failure: the log fail-stops");
        AppendError::FailStopped {
            reason: self.fail.trip(reason),
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
}
