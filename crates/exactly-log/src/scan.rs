//! [`Scan`]: reading one partition from an offset to its end *as of the call*, record by
//! record, without every caller writing its own read-to-end loop.
//!
//! # Where a scan stops
//! [`Log::scan`](crate::Log::scan) fixes the scan's end when it is called:
//! - [`Isolation::ReadUncommitted`]: the partition's visible end (the offset after the
//!   last record readers may see) at that moment;
//! - [`Isolation::ReadCommitted`]: the last stable offset at that moment (the first offset
//!   of the oldest open transaction, or the visible end). Everything below it is decided,
//!   so the aborted transactions a scan skips cannot change while it runs.
//!
//! Records appended (or transactions decided) after the call are never returned, however
//! long the scan takes: the end is not a moving target. Markers and, under
//! `read_committed`, aborted batches occupy offsets but are never returned.
//!
//! # Errors
//! `Log::scan` itself fails for an unknown topic or partition, a fail-stopped log, or a
//! `from` outside `[start offset, visible end]` (`ReadError::OffsetOutOfRange`; below the
//! start means retention already deleted it). Failures while reading (a damaged batch, an
//! I/O error, retention deleting the segment under the scan) are yielded as one `Err`
//! item, after which the scan is over.

use crate::batch::StoredRecord;
use crate::error::ReadError;
use crate::partition::{Isolation, Partition};
use exactly_core::Offset;
use std::collections::VecDeque;
use std::sync::Arc;

/// Records fetched per read: large enough that a long scan makes few reads, small enough
/// that a scan holds little memory.
const RECORDS_PER_READ: usize = 10_000;

/// An iterator over the records of one partition from an offset to the end fixed when it
/// was created (see the module documentation).
pub struct Scan {
    partition: Arc<Partition>,
    topic: String,
    index: u32,
    isolation: Isolation,
    /// Where the next read starts.
    cursor: Offset,
    /// Where the scan stops (fixed at creation).
    end: Offset,
    /// Records read but not yet yielded, in offset order, all below `end`.
    buffered: VecDeque<StoredRecord>,
    /// An error was yielded: nothing more follows.
    failed: bool,
}

impl std::fmt::Debug for Scan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scan")
            .field("topic", &self.topic)
            .field("partition", &self.index)
            .field("isolation", &self.isolation)
            .field("cursor", &self.cursor)
            .field("end", &self.end)
            .finish()
    }
}

impl Scan {
    /// Starts a scan of `partition` (called `topic`/`index` in errors) from `from`.
    pub(crate) fn new(
        partition: Arc<Partition>,
        topic: &str,
        index: u32,
        from: Offset,
        isolation: Isolation,
    ) -> Result<Self, ReadError> {
        let end = partition.scan_end(from, isolation)?;
        Ok(Self {
            partition,
            topic: topic.to_string(),
            index,
            isolation,
            cursor: from,
            end: end.max(from),
            buffered: VecDeque::new(),
            failed: false,
        })
    }

    /// Where the scan stops: no record at or past this offset is returned.
    pub fn end(&self) -> Offset {
        self.end
    }

    /// Where a reader continues after the records yielded so far: the offset of the next
    /// buffered record, else where the next read starts (past skipped markers and aborted
    /// batches). Equals [`Scan::end`] once the scan is exhausted.
    pub fn next_offset(&self) -> Offset {
        self.buffered.front().map_or(self.cursor, |r| r.offset)
    }

    /// Reads the next batch of records into the buffer; `Ok(false)` at the end.
    fn fill(&mut self) -> Result<bool, ReadError> {
        while self.buffered.is_empty() && self.cursor < self.end {
            let batch = self
                .partition
                .read_batch(self.cursor, RECORDS_PER_READ, self.isolation)?;
            if batch.next_offset <= self.cursor {
                return Err(ReadError::ScanStalled {
                    topic: self.topic.clone(),
                    partition: self.index,
                    offset: self.cursor,
                    end: self.end,
                });
            }
            let end = self.end;
            self.buffered
                .extend(batch.records.into_iter().take_while(|r| r.offset < end));
            self.cursor = batch.next_offset.min(end);
        }
        Ok(!self.buffered.is_empty())
    }
}

impl Iterator for Scan {
    type Item = Result<StoredRecord, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.fill() {
            Ok(true) => self.buffered.pop_front().map(Ok),
            Ok(false) => None,
            Err(e) => {
                self.failed = true;
                self.buffered.clear();
                Some(Err(e))
            }
        }
    }
}

impl std::iter::FusedIterator for Scan {}
