//! The read path of a partition: finding the segment holding an offset, decoding what a
//! reader at its isolation level may see, the time lookup, and waiting for new data.

use super::{lock, Mode, Partition, PartitionInfo};
use crate::batch::{self, BatchHeader, StoredRecord};
use crate::error::ReadError;
use crate::producer::AbortedTxn;
use crate::segment::{self, ChunkReader, ScanDepth, Segment};
use exactly_core::{Offset, StorageFile, Timestamp};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bytes a reader fetches at a time: reads usually stop long before a scan would.
const READ_CHUNK_BYTES_FOR_READS: usize = 256 << 10;

/// How often a read-only follower looks for new batches while waiting.
const FOLLOW_POLL: Duration = Duration::from_millis(20);

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

impl Partition {
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
        self.meters.read(out.len());
        Ok(ReadBatch {
            records: out,
            next_offset: next,
        })
    }

    /// Where a scan from `from` at `isolation` started now stops: the visible end
    /// (`read_uncommitted`) or the last stable offset (`read_committed`) as of this call.
    /// `from` must lie in `[start offset, visible end]`, as for [`Partition::read_batch`].
    pub fn scan_end(&self, from: Offset, isolation: Isolation) -> Result<Offset, ReadError> {
        self.refresh();
        let state = lock(&self.state);
        self.fail
            .check()
            .map_err(|reason| ReadError::FailStopped { reason })?;
        let (start, end) = (state.start_offset(), state.visible_end);
        if from < start || from > end {
            return Err(ReadError::OffsetOutOfRange {
                requested: from,
                start,
                end,
            });
        }
        Ok(match isolation {
            Isolation::ReadUncommitted => end,
            Isolation::ReadCommitted => state.last_stable_offset(),
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
        // Below the first segment (retention deleted it under a reader that skipped the
        // range check) nothing holds `offset`: reading the active segment instead returned
        // later records as if they were the requested ones.
        let segment = state
            .segments()
            .take_while(|s| s.base_offset() <= offset)
            .last()
            .ok_or(ReadError::OffsetOutOfRange {
                requested: offset,
                start,
                end,
            })?;
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

/// The error for a damaged batch at `position` of `path`, logged where it is found.
fn corrupt(path: &Path, position: u64, reason: impl ToString) -> ReadError {
    let reason = reason.to_string();
    tracing::warn!(path = %path.display(), position, %reason, "read found a damaged batch");
    ReadError::Corrupt {
        file: path.to_path_buf(),
        position,
        reason,
    }
}

/// The error for a failed read of `path`, logged where it happens.
fn read_io(path: &Path, source: std::io::Error) -> ReadError {
    tracing::warn!(path = %path.display(), error = %source, "reading a segment failed");
    ReadError::Io {
        path: path.to_path_buf(),
        source,
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
        let io = |source| read_io(path, source);
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
            let bytes = reader.peek(len).map_err(|source| read_io(path, source))?;
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
