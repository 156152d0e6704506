//! The operator's explicit repair: cut a partition's active segment at its first invalid
//! byte, even when the log has evidence that the data there was durable (which recovery
//! refuses to do on its own, see [`crate::OpenError::DurableDataLost`]).
//!
//! Every cut is reported ([`RepairAction`]): file, byte range, offsets and how many of them
//! were known durable. Snapshots past the cut are deleted and the evidence is moved down to
//! the cut, so the next open accepts the partition. Transactions whose markers were cut are
//! reconciled by the next writer open (see `Log::reconcile_transactions`).

use crate::config::LogConfig;
use crate::durable_end::{self, DurableEnd};
use crate::evidence;
use crate::segment::{self, parse_file_name, segment_file_name, snapshot_file_name, ScanDepth};
use exactly_core::{Offset, OpenMode, Storage};
use std::io;
use std::path::{Path, PathBuf};

/// Why a repair could not be done (nothing is cut after such an error in that partition).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RepairError {
    /// A file or directory could not be read or written.
    #[error("I/O error on {path}")]
    Io {
        /// File or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Another process has the log open.
    #[error("log directory is locked by another process ({path})")]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// The topic or partition asked for does not exist.
    #[error("no partition directory {path}")]
    UnknownPartition {
        /// The missing directory.
        path: PathBuf,
    },
}

/// What a repair cut from one partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepairAction {
    /// Partition directory.
    pub partition_dir: PathBuf,
    /// The active segment file that was cut.
    pub file: PathBuf,
    /// Bytes kept: `[0, cut_at)`; bytes `[cut_at, file_bytes)` were removed.
    pub cut_at: u64,
    /// Size of the file before the cut.
    pub file_bytes: u64,
    /// First offset dropped (the partition continues from here).
    pub first_dropped_offset: Offset,
    /// Offset after the last record known durable, when the evidence reached past the cut:
    /// offsets `[first_dropped_offset, durable_next_offset)` were acknowledged data.
    pub durable_next_offset: Option<Offset>,
    /// Byte position the evidence file said was durable (when it named this segment).
    pub durable_position: Option<u64>,
    /// What was wrong at `cut_at`.
    pub reason: String,
    /// Producer snapshots deleted because they describe dropped data.
    pub snapshots_removed: Vec<PathBuf>,
}

impl RepairAction {
    /// Offsets (records and transaction markers) dropped that were known durable.
    pub fn durable_offsets_dropped(&self) -> u64 {
        self.durable_next_offset
            .map_or(0, |end| end.0.saturating_sub(self.first_dropped_offset.0))
    }

    /// The cut as the JSON object `exactly log repair` prints (keys sorted).
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({"repaired": self.file, "cut_at_byte": self.cut_at,
               "file_bytes_before": self.file_bytes,
               "bytes_removed": self.file_bytes - self.cut_at,
               "durable_up_to_byte": self.durable_position,
               "first_dropped_offset": self.first_dropped_offset.0,
               "durable_offsets_dropped": self.durable_offsets_dropped(),
               "dropped_offsets": self.durable_next_offset.map(|end| [self.first_dropped_offset.0, end.0]),
               "reason": self.reason,
               "snapshots_removed": self.snapshots_removed})
    }
}

/// The cut in one line for an operator: the file, the bytes and the offsets dropped.
impl std::fmt::Display for RepairAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cut {} at byte {} ({} bytes removed); ",
            self.file.display(),
            self.cut_at,
            self.file_bytes - self.cut_at
        )?;
        match self.durable_next_offset {
            Some(end) => write!(
                f,
                "dropped offsets {}..{} ({} records/markers that were durable)",
                self.first_dropped_offset,
                end,
                self.durable_offsets_dropped()
            ),
            None => write!(
                f,
                "no durable offset dropped (the partition continues at offset {})",
                self.first_dropped_offset
            ),
        }
    }
}

/// Repairs the log in `dir` on the real file system under its lock. `topic`/`partition`
/// narrow it down; `None` repairs every partition of every topic.
pub fn repair_dir(
    dir: &Path,
    config: &LogConfig,
    topic: Option<&str>,
    partition: Option<u32>,
) -> Result<Vec<RepairAction>, RepairError> {
    let _lock = match exactly_core::storage::lock_directory(dir) {
        Ok(Some(file)) => file,
        Ok(None) => {
            return Err(RepairError::Locked {
                path: dir.join(exactly_core::storage::LOCK_FILE),
            })
        }
        Err(source) => return Err(io_error(dir)(source)),
    };
    repair_log(&exactly_core::StdStorage, dir, config, topic, partition)
}

/// The error for an I/O failure on `path` during a repair, logged where it happens.
fn io_error(path: &Path) -> impl FnOnce(io::Error) -> RepairError + '_ {
    move |source| {
        tracing::warn!(path = %path.display(), error = %source, "repair I/O failed");
        RepairError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Repairs the log in `dir` on `storage`; the caller holds the log's lock (or owns the
/// storage, as tests on simulated storage do).
pub fn repair_log(
    storage: &dyn Storage,
    dir: &Path,
    config: &LogConfig,
    topic: Option<&str>,
    partition: Option<u32>,
) -> Result<Vec<RepairAction>, RepairError> {
    let mut actions = Vec::new();
    for partition_dir in partition_dirs(storage, dir, topic, partition)? {
        if let Some(action) = repair_partition(storage, &partition_dir, config)? {
            actions.push(action);
        }
    }
    Ok(actions)
}

fn partition_dirs(
    storage: &dyn Storage,
    dir: &Path,
    topic: Option<&str>,
    partition: Option<u32>,
) -> Result<Vec<PathBuf>, RepairError> {
    let topics = match topic {
        Some(t) => vec![t.to_string()],
        None => storage.list_dir(dir).map_err(io_error(dir))?,
    };
    let mut dirs = Vec::new();
    for name in topics {
        if crate::validate_topic_name(&name).is_err() {
            continue; // LOCK, temporary files: not topics.
        }
        let topic_dir = dir.join(&name);
        let is_topic = storage
            .exists(&topic_dir.join("topic.json"))
            .map_err(io_error(&topic_dir))?;
        if !is_topic {
            if topic.is_some() {
                return Err(RepairError::UnknownPartition { path: topic_dir });
            }
            continue;
        }
        let mut numbers: Vec<u32> = match partition {
            Some(p) => vec![p],
            None => storage
                .list_dir(&topic_dir)
                .map_err(io_error(&topic_dir))?
                .iter()
                .filter_map(|n| n.parse().ok())
                .collect(),
        };
        numbers.sort_unstable();
        for p in numbers {
            let partition_dir = topic_dir.join(p.to_string());
            if !storage
                .exists(&partition_dir)
                .map_err(io_error(&partition_dir))?
            {
                return Err(RepairError::UnknownPartition {
                    path: partition_dir,
                });
            }
            dirs.push(partition_dir);
        }
    }
    Ok(dirs)
}

/// Cuts one partition's active segment at its first invalid byte, if it has one or ends
/// below the durability evidence.
fn repair_partition(
    storage: &dyn Storage,
    dir: &Path,
    config: &LogConfig,
) -> Result<Option<RepairAction>, RepairError> {
    let names = storage.list_dir(dir).map_err(io_error(dir))?;
    let Some(active_base) = names.iter().filter_map(|n| parse_file_name(n, "log")).max() else {
        return Ok(None);
    };
    // A damaged evidence file is replaced below; it makes no claim meanwhile.
    let (recorded, evidence_damage) = match evidence::load(storage, dir) {
        Ok(slot) => (slot.map(|s| s.end), None),
        Err(evidence::LoadError::Damaged(_, reason)) => (None, Some(reason)),
        Err(evidence::LoadError::Io(path, source)) => return Err(RepairError::Io { path, source }),
    };
    let claim = evidence::strongest_claim(&names, recorded);
    let path = dir.join(segment_file_name(active_base));
    let file = storage
        .open(&path, OpenMode::Existing)
        .map_err(io_error(&path))?;
    let len = file.len_bytes().map_err(io_error(&path))?;
    let scan = segment::scan_segment(
        file.as_ref(),
        active_base,
        len,
        config.read_batch_bytes_max(),
        config.index_interval_bytes,
        ScanDepth::Checksums,
    );
    let cut_at = scan.stop.as_ref().map_or(len, |s| s.position);
    let next = scan.index.next_offset;
    let lost = claim.and_then(|c| durable_end::shortfall(&c, active_base, cut_at, next));
    if scan.stop.is_none() && lost.is_none() && evidence_damage.is_none() {
        return Ok(None);
    }
    if cut_at < len {
        file.set_len(cut_at).map_err(io_error(&path))?;
    }
    file.sync_data().map_err(io_error(&path))?;
    let mut snapshots_removed = Vec::new();
    for offset in names
        .iter()
        .filter_map(|n| parse_file_name(n, "snapshot"))
        .filter(|o| *o > next)
    {
        let snapshot = dir.join(snapshot_file_name(offset));
        storage
            .remove_file(&snapshot)
            .map_err(io_error(&snapshot))?;
        snapshots_removed.push(snapshot);
    }
    let end = DurableEnd {
        segment_base: active_base,
        position: cut_at,
        next_offset: next,
    };
    evidence::replace(storage, dir, end).map_err(io_error(&evidence::path_in(dir)))?;
    storage.sync_dir(dir).map_err(io_error(dir))?;
    let reason = match (&scan.stop, evidence_damage) {
        (Some(stop), _) => stop.reason.clone(),
        (None, Some(damage)) => format!("evidence file damaged ({damage}); rewritten"),
        (None, None) => format!("the file ends at byte {len}"),
    };
    Ok(Some(RepairAction {
        partition_dir: dir.to_path_buf(),
        file: path,
        cut_at,
        file_bytes: len,
        first_dropped_offset: next,
        durable_next_offset: lost.map(|l| l.durable_next_offset),
        durable_position: lost.and_then(|l| l.durable_position),
        reason,
        snapshots_removed,
    }))
}
