//! Consumer-group positions in `__consumer_offsets`: the record format, plain commits, and
//! the in-memory view of committed positions that answers `committed_offsets` without
//! rescanning the topic.
//!
//! The view is built from the positions snapshot (see [`super::offsets_snapshot`]) and one
//! `read_committed` scan of the records after it, and kept only when no transaction is open
//! in `__consumer_offsets` (the scan would stop at its first record and miss what follows).
//! From then on every change that becomes visible is applied to it: a plain commit once it
//! is durable, a transaction's positions once its commit marker is written. Each position
//! keeps the offset of the record it came from, and a record only replaces an older one,
//! so the view equals what a scan would return whatever order the applications come in.
//! When a commit's positions are not known in memory (a prepared transaction of an earlier
//! process), the view is dropped and rebuilt by the next scan.

use super::error::TxnError;
use super::history::internal_topic;
use super::offsets_snapshot::{self, Positions};
use super::table::MarkerWrite;
use super::topics::OFFSETS_TOPIC;
use crate::batch::{ControlKind, Record};
use crate::log::Log;
use crate::partition::{lock, AppendOutcome};
use exactly_core::{Offset, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// One position record's value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct OffsetEntry {
    pub(crate) group: String,
    pub(crate) topic: String,
    pub(crate) partition: u32,
    pub(crate) offset: u64,
}

/// Positions written by a transaction that is not yet committed.
#[derive(Debug, Default)]
struct Uncommitted {
    entries: Vec<(OffsetEntry, u64)>,
    /// Some were written but their record offsets are not known (a retried append).
    unknown: bool,
}

#[derive(Debug, Default)]
struct ViewState {
    /// `None`: not built (or dropped): the next read scans.
    committed: Option<Positions>,
    /// By transactional id: positions of its open transaction.
    uncommitted: HashMap<String, Uncommitted>,
    /// Plain position records appended since the last positions snapshot.
    since_snapshot: u64,
}

/// The in-memory view of committed positions.
#[derive(Debug)]
pub(crate) struct OffsetsView {
    state: Mutex<ViewState>,
    /// Records between automatic positions snapshots (0: never).
    snapshot_interval: AtomicU64,
    /// Held while a positions snapshot is written (one at a time).
    snapshotting: Mutex<()>,
}

/// Positions read from the snapshot and the records after it.
struct Loaded {
    positions: Positions,
    /// Records below this offset are folded in.
    end: u64,
    /// Records scanned after the snapshot.
    scanned: u64,
}

impl OffsetsView {
    /// An empty view taking a positions snapshot every `snapshot_interval` records.
    pub(crate) fn new(snapshot_interval: u64) -> Self {
        Self {
            state: Mutex::new(ViewState::default()),
            snapshot_interval: AtomicU64::new(snapshot_interval),
            snapshotting: Mutex::new(()),
        }
    }

    /// Sets the records between automatic positions snapshots (0: never).
    pub(crate) fn set_snapshot_interval(&self, records: u64) {
        self.snapshot_interval.store(records, Ordering::Relaxed);
    }

    /// A transaction of `transactional_id` begins: nothing of it is written yet.
    pub(crate) fn begin(&self, transactional_id: &str) {
        lock(&self.state).uncommitted.remove(transactional_id);
    }

    /// `transactional_id`'s transaction wrote `entries` at `outcome`.
    pub(crate) fn added(
        &self,
        transactional_id: &str,
        entries: Vec<OffsetEntry>,
        outcome: &AppendOutcome,
    ) {
        let mut state = lock(&self.state);
        let pending = state
            .uncommitted
            .entry(transactional_id.to_string())
            .or_default();
        match first_offset(outcome) {
            Some(base) => pending.entries.extend(entries.into_iter().zip(base..)),
            None => pending.unknown = true,
        }
    }

    /// `write`'s markers are written: a commit reaching `__consumer_offsets` makes the
    /// transaction's positions visible; an abort drops them.
    pub(crate) fn markers_written(&self, log: &Log, write: &MarkerWrite) {
        let reaches = write
            .partitions
            .iter()
            .any(|(topic, partition)| topic == OFFSETS_TOPIC && *partition == 0);
        let mut state = lock(&self.state);
        let pending = state.uncommitted.remove(&write.transactional_id);
        if !reaches || write.kind == ControlKind::Abort || !log.owns_topic(OFFSETS_TOPIC) {
            return;
        }
        match pending {
            Some(pending) if !pending.unknown => {
                if let Some(committed) = state.committed.as_mut() {
                    apply(committed, pending.entries);
                }
            }
            // Written by an earlier process (a prepared transaction handed over) or at
            // unknown offsets: rebuild from the topic.
            _ => state.committed = None,
        }
    }

    /// Drops the view (markers were written that it did not follow).
    pub(crate) fn invalidate(&self) {
        lock(&self.state).committed = None;
    }

    /// Commits `group`'s positions without a transaction (at-least-once pipelines).
    pub(crate) fn commit(
        &self,
        log: &Log,
        group: &str,
        positions: &[(String, u32, Offset)],
    ) -> Result<(), TxnError> {
        internal_topic(log, OFFSETS_TOPIC)?;
        let (entries, records) = records(group, positions, log.now_ms())?;
        if records.is_empty() {
            return Ok(());
        }
        let outcome = log.append_internal(OFFSETS_TOPIC, 0, &records, None, 0)?;
        log.flush_partition(OFFSETS_TOPIC, 0).inspect_err(|e| {
            tracing::error!(topic = OFFSETS_TOPIC, error = %e, "syncing positions failed");
        })?;
        let due = {
            let mut state = lock(&self.state);
            match (first_offset(&outcome), state.committed.as_mut()) {
                (Some(base), Some(committed)) => {
                    apply(committed, entries.into_iter().zip(base..));
                }
                (None, Some(_)) => state.committed = None,
                (_, None) => {}
            }
            state.since_snapshot += records.len() as u64;
            self.is_due(state.since_snapshot)
        };
        if due {
            self.snapshot_logged(log);
        }
        Ok(())
    }

    fn is_due(&self, records: u64) -> bool {
        let interval = self.snapshot_interval.load(Ordering::Relaxed);
        interval > 0 && records >= interval
    }

    /// Writes a positions snapshot; a failure fails nothing else (the previous snapshot
    /// stays valid): it is logged and tried again later.
    pub(crate) fn snapshot_logged(&self, log: &Log) {
        if let Err(e) = self.snapshot(log) {
            tracing::warn!(
                dir = %log.dir().display(),
                error = %e,
                "writing the positions snapshot failed; the previous one stays in use"
            );
        }
    }

    /// Writes a snapshot of the committed positions below the last stable offset of
    /// `__consumer_offsets`, made durable first. Does nothing on a handle that does not
    /// write the topic, or while another snapshot is being written (it covers the caller's
    /// records, or the next one will).
    pub(crate) fn snapshot(&self, log: &Log) -> Result<(), TxnError> {
        if !log.owns_topic(OFFSETS_TOPIC) || log.partition_count(OFFSETS_TOPIC).is_none() {
            return Ok(());
        }
        let Ok(_writing) = self.snapshotting.try_lock() else {
            return Ok(());
        };
        // Durable below `written` before a snapshot covers it: a crash must never leave a
        // snapshot ahead of the records, whose offsets would then be reused.
        let written = log.partition_info(OFFSETS_TOPIC, 0)?.written_offset.0;
        log.flush_partition(OFFSETS_TOPIC, 0)?;
        let loaded = load(log, Some(written))?;
        offsets_snapshot::write(log, &loaded.positions, loaded.end)?;
        lock(&self.state).since_snapshot = 0;
        Ok(())
    }

    /// The committed positions of `group`. From memory when this handle writes
    /// `__consumer_offsets`; a handle following it read-only scans (another process
    /// writes it).
    pub(crate) fn committed(
        &self,
        log: &Log,
        group: &str,
    ) -> Result<BTreeMap<(String, u32), Offset>, TxnError> {
        let pick = |all: &Positions| match all.get(group) {
            Some(positions) => positions
                .iter()
                .map(|(key, (offset, _))| (key.clone(), *offset))
                .collect(),
            // A group that never committed has no positions (not a lost value).
            None => BTreeMap::new(),
        };
        if log.partition_count(OFFSETS_TOPIC).is_none() {
            return Ok(BTreeMap::new());
        }
        if !log.owns_topic(OFFSETS_TOPIC) {
            return Ok(pick(&load(log, None)?.positions));
        }
        let mut state = lock(&self.state);
        if let Some(committed) = &state.committed {
            return Ok(pick(committed));
        }
        let loaded = load(log, None)?;
        let answer = pick(&loaded.positions);
        // Kept only if nothing is open there: a scan stops at an open transaction's first
        // record, and committed records after it would be missing from the view.
        if log
            .partition_info(OFFSETS_TOPIC, 0)?
            .open_transactions
            .is_empty()
        {
            state.committed = Some(loaded.positions);
        }
        drop(state);
        // A long scan now means the next open would scan as long: snapshot it.
        if self.is_due(loaded.scanned) {
            self.snapshot_logged(log);
        }
        Ok(answer)
    }
}

/// The offset of the first record an append wrote (`None`: a retry at unknown offsets).
fn first_offset(outcome: &AppendOutcome) -> Option<u64> {
    match outcome {
        AppendOutcome::Appended { base_offset, .. } => Some(base_offset.0),
        AppendOutcome::Duplicate { original } => original.map(|(base, _)| base.0),
    }
}

/// Applies positions read from records at the paired offsets; a record only replaces a
/// position that came from an older record.
fn apply(committed: &mut Positions, entries: impl IntoIterator<Item = (OffsetEntry, u64)>) {
    for (entry, source) in entries {
        let slot = committed
            .entry(entry.group)
            .or_default()
            .entry((entry.topic, entry.partition));
        match slot {
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert((Offset(entry.offset), source));
            }
            std::collections::btree_map::Entry::Occupied(mut o) => {
                if o.get().1 < source {
                    o.insert((Offset(entry.offset), source));
                }
            }
        }
    }
}

/// Every committed position of every group (`read_committed`): the snapshot's, then the
/// records after it, below `upto` if given.
fn load(log: &Log, upto: Option<u64>) -> Result<Loaded, TxnError> {
    let (mut positions, from) = match offsets_snapshot::read(log)? {
        Some(snapshot) => (snapshot.positions(), Offset(snapshot.next_offset)),
        None => (
            Positions::new(),
            log.partition_info(OFFSETS_TOPIC, 0)?.start_offset,
        ),
    };
    let mut scan = log.scan(OFFSETS_TOPIC, 0, from, crate::Isolation::ReadCommitted)?;
    let end = match upto {
        Some(upto) => scan.end().0.min(upto).max(from.0),
        None => scan.end().0,
    };
    let mut scanned = 0;
    for record in scan.by_ref() {
        let record = record?;
        if record.offset.0 >= end {
            break;
        }
        scanned += 1;
        // A position that does not parse is damage, not a record to skip: skipping it
        // silently restarted the group from an older position.
        let entry = serde_json::from_slice::<OffsetEntry>(&record.value).map_err(|e| {
            TxnError::CorruptState {
                offset: record.offset.0,
                reason: format!("{OFFSETS_TOPIC}: {e}"),
            }
        })?;
        apply(&mut positions, [(entry, record.offset.0)]);
    }
    Ok(Loaded {
        positions,
        end,
        scanned,
    })
}

/// One `__consumer_offsets` record per position; an encoding failure is an error (an empty
/// value would be a position that silently never reads back).
pub(crate) fn records(
    group: &str,
    positions: &[(String, u32, Offset)],
    now_ms: i64,
) -> Result<(Vec<OffsetEntry>, Vec<Record>), TxnError> {
    let mut entries = Vec::with_capacity(positions.len());
    let mut records = Vec::with_capacity(positions.len());
    for (topic, partition, offset) in positions {
        let key = format!("{group}/{topic}/{partition}");
        let entry = OffsetEntry {
            group: group.to_string(),
            topic: topic.clone(),
            partition: *partition,
            offset: offset.0,
        };
        let value = serde_json::to_vec(&entry).map_err(|e| TxnError::Encode {
            what: "consumer position",
            key: key.clone(),
            reason: e.to_string(),
        })?;
        entries.push(entry);
        records.push(Record {
            timestamp: Timestamp(now_ms),
            key: Some(key.into_bytes()),
            value,
        });
    }
    Ok((entries, records))
}
