//! A read-only follower of a partition another process writes: it picks up new batches and
//! segments by looking at the files, and may show only what the owner's durable-end
//! evidence says is durable.

use super::{lock, Mode, Partition, PartitionState};
use crate::evidence;
use crate::index::SegmentIndex;
use crate::segment::{self, parse_file_name, segment_file_name, ScanDepth, Segment};
use exactly_core::{Offset, OpenMode};

impl Partition {
    /// Makes a follower show only records the owner has made durable, as its durable-end
    /// evidence says: a follow job then never processes a record that an OS crash of the
    /// owner's machine could still take back. Without an evidence file (a log written
    /// before it existed, or with the evidence switched off) everything written is shown.
    pub(crate) fn follow_durable_only(mut self) -> Self {
        self.durable_only = true;
        let limit = self.durable_limit();
        let state = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        state.visible_end = limit.map_or(state.next_offset(), |l| l.min(state.next_offset()));
        self.debug_check(&lock(&self.state));
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
            Err(e) => {
                tracing::debug!(partition = %self.dir.display(), error = ?e, "durable-end evidence unreadable; showing nothing new");
                Some(Offset(0))
            }
        }
    }

    /// Read-only followers: picks up batches and segments the owning process added since the
    /// last look, and forgets sealed segments it deleted. Problems (a batch being written
    /// right now) just end the look; the next one continues from the same place. A no-op
    /// for the owning process.
    pub(super) fn refresh(&self) {
        if self.mode == Mode::ReadWrite {
            return;
        }
        // Read before the data: the claim can only be below what the scan then finds.
        let limit = self.durable_limit();
        let mut state = lock(&self.state);
        self.scan_active_tail(&mut state);
        let names = match self.storage.list_dir(&self.dir) {
            Ok(names) => names,
            Err(e) => {
                tracing::warn!(path = %self.dir.display(), error = %e, "follower could not list the partition");
                return;
            }
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
            let file = match self.storage.open(&path, OpenMode::Existing) {
                Ok(file) => file,
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "follower could not open a new segment");
                    break;
                }
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
        self.debug_check(&state);
    }

    fn scan_active_tail(&self, state: &mut PartitionState) {
        let len = match state.active.file.len_bytes() {
            Ok(len) => len,
            Err(e) => {
                let path = state.active.path.display();
                tracing::warn!(path = %path, error = %e, "follower could not read the segment's length");
                return;
            }
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
