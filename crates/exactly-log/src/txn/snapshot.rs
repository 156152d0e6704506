//! The coordinator's snapshot: a compacted image of `__transactions` up to an offset, so
//! opening a log loads it and replays only the records after it, however long the history.
//!
//! # What a snapshot keeps
//! - the last state of every transactional id and the next producer id to allocate;
//! - the decision record of every transaction still open in some partition when the
//!   snapshot is taken (found in the previous snapshot's kept decisions and the records
//!   since), so reconciling a marker lost *before* the snapshot still finds its decision.
//!
//! **The limit:** reconciliation ([`crate::Log::open`]) looks a lost marker's decision up
//! in the kept decisions, the last state of every id and the records after the snapshot.
//! A marker that was written, then lost *after* a snapshot was taken (cut by `exactly log
//! repair`, or lost by a disk that acknowledged an fsync it did not perform), of a
//! transaction that was already complete in every partition at that snapshot and is no
//! longer its id's current transaction, has no decision there: it is reconciled as
//! aborted (presumed abort). Without a snapshot the whole history is searched, as before.
//!
//! A snapshot is written only after `__transactions` is synced up to the offset it
//! covers, so a crash never leaves a snapshot ahead of the durable records; one that is
//! ahead anyway (the records were cut by `log repair`) is refused.
//!
//! # Format
//! One `exactly_core::framing` frame (magic `EXTS`, version 2, length, CRC32C over header
//! and payload), the payload JSON. Version 1, written by older builds, has the same header
//! with the CRC over the payload only, and is still read. An unknown version is
//! [`TxnError::SnapshotVersion`]; anything else that does not check is
//! [`TxnError::SnapshotCorrupt`].

use super::error::TxnError;
use super::history;
use super::markers;
use super::table::{TxnMetadata, TxnTable};
use super::topics::{FIRST_ALLOCATED_PRODUCER_ID, TRANSACTIONS_TOPIC};
use crate::log::Log;
use exactly_core::framing::{self, FrameError, FrameKind, HEADER_BYTES};
use exactly_core::storage::{read_file, write_file_atomically};
use exactly_core::Offset;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

pub use super::topics::SNAPSHOT_FILE_NAME as FILE_NAME;
/// Records of `__transactions` between automatic snapshots, by default.
pub const DEFAULT_INTERVAL_RECORDS: u64 = 10_000;
const MAGIC: [u8; 4] = *b"EXTS";
/// The frame this build writes: the core frame (its CRC covers the header too). The body
/// limit (1 GiB) refuses a garbage length before allocating.
const KIND: FrameKind = FrameKind {
    magic: MAGIC,
    version: 2,
    body_bytes_max: 1 << 30,
};
/// The format version this build writes (it also reads version 1, of older builds).
pub const VERSION: u32 = KIND.version;
/// The layout of older builds: the same header, its CRC over the payload only.
const LEGACY_VERSION: u32 = 1;

/// The compacted image of `__transactions` below `next_offset`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Records of `__transactions` below this offset are folded in.
    pub next_offset: u64,
    /// The next producer id to allocate.
    pub next_producer_id: u64,
    /// The last state of every transactional id, by id.
    pub current: Vec<TxnMetadata>,
    /// Decision records of transactions open in some partition at snapshot time, in
    /// record order.
    pub decisions: Vec<TxnMetadata>,
}

impl Snapshot {
    /// The snapshot of an empty history.
    pub fn empty() -> Self {
        Self {
            next_producer_id: FIRST_ALLOCATED_PRODUCER_ID,
            ..Self::default()
        }
    }

    /// Frames the snapshot (one `exactly_core::framing` frame of the JSON payload).
    pub fn encode(&self) -> Result<Vec<u8>, String> {
        let payload = serde_json::to_vec(self).map_err(|e| e.to_string())?;
        framing::encode(&KIND, &payload).map_err(|e| e.to_string())
    }

    /// Checks and decodes a framed snapshot read from `path` (this build's frame, or the
    /// version-1 layout of older builds).
    pub fn decode(bytes: &[u8], path: &std::path::Path) -> Result<Self, TxnError> {
        let corrupt = |reason: String| TxnError::SnapshotCorrupt {
            path: path.to_path_buf(),
            reason,
        };
        let payload = match framing::peek_version(MAGIC, bytes) {
            Err(FrameError::BadMagic { .. }) => {
                return Err(corrupt("not a transaction snapshot (magic)".into()))
            }
            Err(e) => return Err(corrupt(e.to_string())),
            Ok(LEGACY_VERSION) => legacy_payload(bytes).map_err(corrupt)?,
            Ok(_) => framing::decode_whole(&KIND, bytes).map_err(|e| match e {
                FrameError::UnknownVersion { found, .. } => TxnError::SnapshotVersion {
                    path: path.to_path_buf(),
                    version: found,
                },
                FrameError::CrcMismatch { stored, computed } => corrupt(format!(
                    "CRC32C mismatch (stored {stored:#010x}, computed {computed:#010x})"
                )),
                other => corrupt(other.to_string()),
            })?,
        };
        serde_json::from_slice(payload).map_err(|e| corrupt(e.to_string()))
    }

    /// The table this snapshot describes.
    fn table(&self) -> TxnTable {
        let mut table = TxnTable::new();
        table.reserve_producer_ids(self.next_producer_id);
        for meta in &self.current {
            table.replay(meta.clone());
        }
        table
    }
}

/// The payload of a version-1 snapshot: `magic | version | len | crc32c(payload) | payload`.
fn legacy_payload(bytes: &[u8]) -> Result<&[u8], String> {
    let word = |at: usize| -> Result<u32, String> {
        bytes
            .get(at..at + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_le_bytes)
            .ok_or_else(|| format!("{} bytes: header cut short", bytes.len()))
    };
    let len = word(8)? as usize;
    let crc = word(12)?;
    let payload = bytes
        .get(HEADER_BYTES..)
        .filter(|p| p.len() == len)
        .ok_or_else(|| {
            format!(
                "payload of {} bytes, header says {len}",
                bytes.len().saturating_sub(HEADER_BYTES)
            )
        })?;
    if crc32c::crc32c(payload) != crc {
        return Err("CRC32C mismatch".into());
    }
    Ok(payload)
}

fn path(log: &Log) -> PathBuf {
    log.dir().join(FILE_NAME)
}

/// Reads the snapshot, if there is one.
fn read(log: &Log) -> Result<Option<Snapshot>, TxnError> {
    let path = path(log);
    let io = |e: std::io::Error| {
        tracing::warn!(path = %path.display(), error = %e, "reading the transaction snapshot failed");
        TxnError::SnapshotIo {
            path: path.clone(),
            reason: e.to_string(),
        }
    };
    if !log.storage().exists(&path).map_err(io)? {
        return Ok(None);
    }
    let bytes = read_file(log.storage(), &path).map_err(io)?;
    Snapshot::decode(&bytes, &path).map(Some)
}

/// Loads the table: the snapshot (if any), then the records after it. Returns the
/// snapshot it started from, the table, and how many records were replayed.
pub(crate) fn load(log: &Log) -> Result<(Snapshot, TxnTable, u64), TxnError> {
    // A handle following `__transactions` read-only replays it whole (nothing below a
    // snapshot is deleted): the owner may write a snapshot covering records this handle
    // has not seen yet. Without any records, a snapshot left behind describes nothing.
    let uses_snapshot =
        log.owns_topic(TRANSACTIONS_TOPIC) && log.partition_count(TRANSACTIONS_TOPIC).is_some();
    let base = match uses_snapshot {
        true => match read(log)? {
            Some(snapshot) => snapshot,
            None => Snapshot::empty(),
        },
        false => Snapshot::empty(),
    };
    if uses_snapshot {
        let info = log.partition_info(TRANSACTIONS_TOPIC, 0)?;
        if base.next_offset > info.written_offset.0 || info.start_offset.0 > base.next_offset {
            return Err(TxnError::SnapshotCorrupt {
                path: path(log),
                reason: format!(
                    "it covers {TRANSACTIONS_TOPIC} below offset {}, which holds offsets {}..{}",
                    base.next_offset, info.start_offset.0, info.written_offset.0
                ),
            });
        }
    }
    let (tail, _) = history::read_from(log, Offset(base.next_offset))?;
    let mut table = base.table();
    let replayed = tail.len() as u64;
    for (_, meta) in tail {
        table.replay(meta);
    }
    Ok((base, table, replayed))
}

/// Every recorded decision reconciliation may need, in record order: the decisions the
/// snapshot kept, the last state of every id, then the records after the snapshot.
pub(crate) fn decisions(log: &Log, base: &Snapshot) -> Result<Vec<TxnMetadata>, TxnError> {
    let (tail, _) = history::read_from(log, Offset(base.next_offset))?;
    Ok(base
        .decisions
        .iter()
        .chain(&base.current)
        .cloned()
        .chain(tail.into_iter().map(|(_, meta)| meta))
        .collect())
}

/// Folds the records after `base` (up to the end of what is written now, made durable
/// first) into a new snapshot and writes it. Returns the snapshot written.
pub(crate) fn write(log: &Log, base: &Snapshot) -> Result<Snapshot, TxnError> {
    let upto = log.partition_info(TRANSACTIONS_TOPIC, 0)?.written_offset.0;
    // Durable before the snapshot that covers them: a crash must never leave a snapshot
    // ahead of the records, whose offsets would then be reused.
    history::sync(log)?;
    let (tail, _) = history::read_from(log, Offset(base.next_offset))?;
    let tail: Vec<TxnMetadata> = tail
        .into_iter()
        .filter(|(offset, _)| offset.0 < upto)
        .map(|(_, meta)| meta)
        .collect();
    let mut current: BTreeMap<String, TxnMetadata> = base
        .current
        .iter()
        .map(|m| (m.transactional_id.clone(), m.clone()))
        .collect();
    let mut next_producer_id = base.next_producer_id;
    for meta in &tail {
        next_producer_id = next_producer_id.max(meta.producer_id.saturating_add(1));
        current.insert(meta.transactional_id.clone(), meta.clone());
    }
    let history: Vec<&TxnMetadata> = base
        .decisions
        .iter()
        .chain(&base.current)
        .chain(&tail)
        .collect();
    let mut decisions: Vec<TxnMetadata> = Vec::new();
    for (_, _, spans) in log.open_transactions() {
        for span in spans {
            let found =
                markers::decision_record_for(history.iter().copied(), span.producer_id, span.epoch);
            if let Some(found) = found {
                if !decisions.contains(found) {
                    decisions.push(found.clone());
                }
            }
        }
    }
    // Keep record order (the first matching decision wins for records without
    // `txn_epoch`).
    decisions.sort_by_key(|d| history.iter().position(|h| *h == d));
    let snapshot = Snapshot {
        next_offset: upto,
        next_producer_id,
        current: current.into_values().collect(),
        decisions,
    };
    let path = path(log);
    let bytes = snapshot.encode().map_err(|reason| TxnError::SnapshotIo {
        path: path.clone(),
        reason,
    })?;
    write_file_atomically(log.storage(), &path, &bytes).map_err(|e| {
        tracing::warn!(path = %path.display(), error = %e, "writing the transaction snapshot failed");
        TxnError::SnapshotIo {
            path: path.clone(),
            reason: e.to_string(),
        }
    })?;
    Ok(snapshot)
}
