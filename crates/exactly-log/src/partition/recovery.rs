//! Opening a partition: loading sealed segments, recovering the active segment's tail
//! (truncating a torn write, refusing corruption and lost durable data), and rebuilding the
//! producer table from the newest snapshot plus the batches after it.

use super::{
    io_open, lock, DurableState, FailStop, Mode, Partition, PartitionState, RecoveryEvent,
    WriteMark,
};
use crate::batch::BatchHeader;
use crate::config::LogConfig;
use crate::durable_end::{self, DurableEnd};
use crate::error::OpenError;
use crate::evidence::{self, EvidenceWriter};
use crate::index::SegmentIndex;
use crate::meters::PartitionMeters;
use crate::producer::ProducerTable;
use crate::segment::{
    self, index_file_name, parse_file_name, segment_file_name, snapshot_file_name, ScanDepth,
    Segment,
};
use exactly_core::storage::{read_file, write_file_atomically};
use exactly_core::{Clock, Offset, OpenMode, Storage, StorageFile};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

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
        meters: PartitionMeters,
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
            in_flight: 0,
            in_flight_mark: WriteMark::default(),
        });
        let partition = Self {
            dir,
            storage,
            clock,
            config,
            fail,
            state: Mutex::new(state),
            visible_changed: Condvar::new(),
            durable,
            durable_changed: Condvar::new(),
            recovery: recovery.into_iter().collect(),
            meters,
            mode,
            durable_only: false,
        };
        partition.debug_check(&lock(&partition.state));
        Ok(partition)
    }
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
        // A missing, unreadable or stale index is rebuilt from the segment below.
        let stored = read_optional(self.storage, &index_path)
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
            // An unreadable or damaged snapshot: an older one, or the segments, rebuild it.
            let decoded = read_optional(self.storage, &path)
                .and_then(|bytes| ProducerTable::decode_snapshot(&bytes));
            if let Some((at, table)) = decoded.filter(|(at, _)| *at == offset) {
                return (at, table);
            }
        }
        (state.start_offset(), ProducerTable::default())
    }
}

/// The bytes of a file that recovery can do without (an index, a snapshot): `None` when it
/// is missing or unreadable — the caller rebuilds what it held — with a read failure logged.
fn read_optional(storage: &dyn Storage, path: &Path) -> Option<Vec<u8>> {
    match read_file(storage, path) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "unreadable; rebuilding what it held");
            None
        }
    }
}
