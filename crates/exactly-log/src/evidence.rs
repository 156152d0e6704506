//! Reading and writing a partition's durable-end evidence file (the format and the rules
//! are in [`crate::durable_end`]), plus the other evidence of durability recovery uses.

use crate::durable_end::{self, DurableEnd, Slot, DURABLE_END_FILE, MAGIC};
use crate::segment::parse_file_name;
use exactly_core::durable_end::{DurableEndError, DurableEndWriter, Evidence};
use exactly_core::storage::{read_file, write_file_atomically};
use exactly_core::{Offset, Storage};
use std::io;
use std::path::{Path, PathBuf};

/// A sync interval that never elapses: the longest the millisecond clock can measure.
const NEVER_MS: i64 = i64::MAX;

/// Why the evidence could not be read.
#[derive(Debug)]
pub(crate) enum LoadError {
    /// The file could not be read.
    Io(PathBuf, io::Error),
    /// The file exists but no slot is valid.
    Damaged(PathBuf, String),
}

/// The evidence file's path in partition directory `dir`.
pub(crate) fn path_in(dir: &Path) -> PathBuf {
    dir.join(DURABLE_END_FILE)
}

/// The newest claim of the evidence file in `dir`, `None` when the file does not exist (a
/// log written before the file existed, or the switch was off).
pub(crate) fn load(storage: &dyn Storage, dir: &Path) -> Result<Option<Slot>, LoadError> {
    let path = path_in(dir);
    match read_file(storage, &path) {
        Ok(bytes) => durable_end::decode_file(&bytes)
            .map(Some)
            .map_err(|reason| LoadError::Damaged(path, reason)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "reading the durable-end evidence failed");
            Err(LoadError::Io(path, e))
        }
    }
}

/// The strongest durability claim in `dir`: the evidence file, or a producer snapshot named
/// after a later offset (snapshots are written only once the data below them is durable).
pub(crate) fn strongest_claim(
    names: &[String],
    evidence: Option<DurableEnd>,
) -> Option<DurableEnd> {
    let snapshot_end = names
        .iter()
        .filter_map(|n| parse_file_name(n, "snapshot"))
        .max();
    match (evidence, snapshot_end) {
        (Some(e), Some(s)) if s > e.next_offset => Some(DurableEnd {
            next_offset: s,
            ..e
        }),
        (Some(e), _) => Some(e),
        // A snapshot alone names no byte position: only its offset is a claim.
        (None, Some(s)) => Some(DurableEnd {
            segment_base: Offset(0),
            position: 0,
            next_offset: s,
        }),
        (None, None) => None,
    }
}

/// The core evidence's errors as the `io::Error`s the partition code expects (the core
/// has logged them with the path).
fn as_io(e: DurableEndError) -> io::Error {
    match e {
        DurableEndError::Io { source, .. } => source,
        other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
    }
}

/// The writer side: rewrites one slot in place after every durable step, and syncs the file
/// at most every `sync_interval_ms` (and on clean close).
#[derive(Debug)]
pub(crate) struct EvidenceWriter {
    writer: DurableEndWriter<3>,
    synced_at_ms: i64,
    sync_interval_ms: i64,
}

impl EvidenceWriter {
    /// Records `end` (which must be durable already): creates the file atomically if it is
    /// missing (both slots valid) or of the older layout, else overwrites the older slot.
    pub fn open(
        storage: &dyn Storage,
        dir: &Path,
        previous: Option<Slot>,
        end: DurableEnd,
        now_ms: i64,
        sync_interval_ms: u64,
    ) -> io::Result<Self> {
        let path = path_in(dir);
        // Syncs are driven by time here, never by count.
        let never_by_count = u32::MAX;
        let writer = match previous {
            Some(slot) if !slot.legacy => {
                let newest = Evidence {
                    counter: slot.sequence,
                    claim: slot.end.words(),
                };
                DurableEndWriter::open(storage, &path, MAGIC, newest, never_by_count)
            }
            _ => DurableEndWriter::create(storage, &path, MAGIC, end.words(), never_by_count),
        }
        .map_err(as_io)?;
        let mut writer = Self {
            writer,
            synced_at_ms: now_ms,
            sync_interval_ms: match i64::try_from(sync_interval_ms) {
                Ok(ms) => ms,
                // An interval beyond i64 milliseconds (292 million years) never elapses:
                // the same as the longest one the clock can measure.
                Err(_) => NEVER_MS,
            },
        };
        // Only a new claim is written: an open that changes nothing (a command refused
        // after opening, a reader-writer that appends nothing) must leave the file as it is.
        if previous.is_some_and(|slot| !slot.legacy && slot.end != end) {
            writer.record(end, now_ms)?;
            writer.sync()?;
        }
        Ok(writer)
    }

    /// The file's path (for error messages).
    pub fn path(&self) -> &Path {
        self.writer.path()
    }

    /// Overwrites the older slot with `end`; syncs when the interval has passed. A plain
    /// write survives a kill of the process (the page cache keeps it); the periodic sync
    /// bounds what an OS crash can take back.
    pub fn record(&mut self, end: DurableEnd, now_ms: i64) -> io::Result<()> {
        self.writer.write(end.words()).map_err(as_io)?;
        if now_ms.saturating_sub(self.synced_at_ms) >= self.sync_interval_ms {
            self.sync()?;
            self.synced_at_ms = now_ms;
        }
        Ok(())
    }

    /// Makes the newest claim durable (clean close).
    pub fn sync(&mut self) -> io::Result<()> {
        self.writer.sync().map_err(as_io)
    }
}

/// Replaces the evidence in `dir` with `end` atomically (repair: the claim moves *down* to
/// the cut, which an in-place slot write must never do).
pub(crate) fn replace(storage: &dyn Storage, dir: &Path, end: DurableEnd) -> io::Result<()> {
    let path = path_in(dir);
    write_file_atomically(storage, &path, &durable_end::encode_file(end)).map_err(|e| {
        tracing::warn!(path = %path.display(), error = %e, "replacing the durable-end evidence failed");
        e
    })
}
