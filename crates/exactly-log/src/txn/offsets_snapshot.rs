//! The snapshot of committed consumer positions: a compacted image of `__consumer_offsets`
//! below an offset, so reading positions after an open scans only the records after it,
//! however long the history of commits.
//!
//! # What a snapshot holds
//! Every committed position of every group, as a `read_committed` scan of the records
//! below `next_offset` returns them, each with the offset of the record it came from (a
//! record replaces a position only if it is newer, so the records after the snapshot fold
//! onto it exactly as onto a scan from offset 0).
//!
//! `next_offset` is never above the partition's last stable offset when the snapshot is
//! taken: every transaction with records below it is decided, so no later commit or abort
//! can change what the snapshot says. The records are made durable before the snapshot
//! is written, so a crash never leaves a snapshot ahead of them; one that is ahead anyway
//! (records cut by `exactly log repair`) is refused, as is one below the partition's start.
//!
//! **The limit:** segments below the snapshot are kept (nothing deletes them yet): disk use
//! grows with the history of commits, the time to read positions after an open does not.
//!
//! # When one is written
//! Whenever the coordinator writes its own snapshot (every so many `__transactions`
//! records, or when asked), after every so many plain position commits, and when a first
//! read after an open had to scan that many records.
//!
//! # Format
//! One `exactly_core::framing` frame (magic `EXCO`, version, length, CRC32C over header and
//! body); the body is JSON. An unknown version is [`TxnError::SnapshotVersion`], anything
//! else that does not check is [`TxnError::SnapshotCorrupt`].

use super::error::TxnError;
use super::topics::OFFSETS_TOPIC;
use crate::log::Log;
use exactly_core::framing::{self, FrameError, FrameKind};
use exactly_core::storage::{read_file, write_file_atomically};
use exactly_core::Offset;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Committed positions: group → (topic, partition) → (position, offset of its record).
pub(crate) type Positions = BTreeMap<String, BTreeMap<(String, u32), (Offset, u64)>>;

/// File name of the snapshot in the log directory (a dot name: never a topic).
pub const FILE_NAME: &str = ".consumer_offsets.snapshot";
/// The frame this build writes and reads. The body limit (1 GiB) is far above any real
/// set of positions and refuses a garbage length before allocating.
const KIND: FrameKind = FrameKind {
    magic: *b"EXCO",
    version: 1,
    body_bytes_max: 1 << 30,
};
/// The format version this build writes and reads.
pub const VERSION: u32 = KIND.version;

/// One committed position and the offset of the record it came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotPosition {
    /// The consumer group.
    pub group: String,
    /// The topic read.
    pub topic: String,
    /// The partition read.
    pub partition: u32,
    /// The next offset to read.
    pub offset: u64,
    /// Offset in `__consumer_offsets` of the record this position came from.
    pub source: u64,
}

/// The committed positions of every group below `next_offset` of `__consumer_offsets`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetsSnapshot {
    /// Records of `__consumer_offsets` below this offset are folded in.
    pub next_offset: u64,
    /// Every committed position, by group, topic and partition.
    pub positions: Vec<SnapshotPosition>,
}

impl OffsetsSnapshot {
    /// The snapshot of `positions`, folded from the records below `next_offset`.
    pub(crate) fn of(positions: &Positions, next_offset: u64) -> Self {
        let positions = positions
            .iter()
            .flat_map(|(group, by_partition)| {
                by_partition
                    .iter()
                    .map(
                        move |((topic, partition), (offset, source))| SnapshotPosition {
                            group: group.clone(),
                            topic: topic.clone(),
                            partition: *partition,
                            offset: offset.0,
                            source: *source,
                        },
                    )
            })
            .collect();
        Self {
            next_offset,
            positions,
        }
    }

    /// The positions this snapshot holds.
    pub(crate) fn positions(&self) -> Positions {
        let mut positions = Positions::new();
        for p in &self.positions {
            positions
                .entry(p.group.clone())
                .or_default()
                .insert((p.topic.clone(), p.partition), (Offset(p.offset), p.source));
        }
        positions
    }

    /// Frames the snapshot (see the module documentation).
    pub fn encode(&self) -> Result<Vec<u8>, String> {
        let body = serde_json::to_vec(self).map_err(|e| e.to_string())?;
        framing::encode(&KIND, &body).map_err(|e| e.to_string())
    }

    /// Checks and decodes a framed snapshot read from `path`.
    pub fn decode(bytes: &[u8], path: &Path) -> Result<Self, TxnError> {
        let corrupt = |reason: String| TxnError::SnapshotCorrupt {
            path: path.to_path_buf(),
            reason,
        };
        let body = framing::decode_whole(&KIND, bytes).map_err(|e| match e {
            FrameError::UnknownVersion { found, .. } => TxnError::SnapshotVersion {
                path: path.to_path_buf(),
                version: found,
            },
            other => corrupt(other.to_string()),
        })?;
        serde_json::from_slice(body).map_err(|e| corrupt(e.to_string()))
    }
}

fn path(log: &Log) -> PathBuf {
    log.dir().join(FILE_NAME)
}

fn io_error(path: &Path, action: &str, e: &dyn std::fmt::Display) -> TxnError {
    tracing::warn!(path = %path.display(), error = %e, "{action} the positions snapshot failed");
    TxnError::SnapshotIo {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Reads the snapshot, checked against the partition's offsets. `None` without one, or
/// when this handle does not write `__consumer_offsets` (a read-only follower scans the
/// whole topic: the owner may write a snapshot covering records it has not seen yet).
pub(crate) fn read(log: &Log) -> Result<Option<OffsetsSnapshot>, TxnError> {
    if !log.owns_topic(OFFSETS_TOPIC) {
        return Ok(None);
    }
    let path = path(log);
    if !log
        .storage()
        .exists(&path)
        .map_err(|e| io_error(&path, "reading", &e))?
    {
        return Ok(None);
    }
    let bytes = read_file(log.storage(), &path).map_err(|e| io_error(&path, "reading", &e))?;
    let snapshot = OffsetsSnapshot::decode(&bytes, &path)?;
    let info = log.partition_info(OFFSETS_TOPIC, 0)?;
    if snapshot.next_offset > info.written_offset.0 || info.start_offset.0 > snapshot.next_offset {
        return Err(TxnError::SnapshotCorrupt {
            path,
            reason: format!(
                "it covers {OFFSETS_TOPIC} below offset {}, which holds offsets {}..{}",
                snapshot.next_offset, info.start_offset.0, info.written_offset.0
            ),
        });
    }
    Ok(Some(snapshot))
}

/// Writes `positions`, folded from the records below `next_offset`, as the snapshot. The
/// caller made those records durable and decided (`next_offset` ≤ the last stable offset).
pub(crate) fn write(log: &Log, positions: &Positions, next_offset: u64) -> Result<(), TxnError> {
    let path = path(log);
    let bytes = OffsetsSnapshot::of(positions, next_offset)
        .encode()
        .map_err(|reason| io_error(&path, "encoding", &reason))?;
    write_file_atomically(log.storage(), &path, &bytes).map_err(|e| io_error(&path, "writing", &e))
}
