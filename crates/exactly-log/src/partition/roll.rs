//! Rolling a partition to a new segment, retention of old segments, and the producer
//! snapshots written at each roll (so recovery need not rescan the whole partition).

use super::{lock, Mode, Partition, PartitionState};
use crate::index::SegmentIndex;
use crate::segment::{
    index_file_name, parse_file_name, segment_file_name, snapshot_file_name, Segment,
};
use exactly_core::storage::write_file_atomically;
use exactly_core::{Offset, OpenMode};

/// Producer snapshots kept per partition (older ones are deleted).
const SNAPSHOTS_KEPT: usize = 2;

impl Partition {
    /// Seals the active segment and starts a new one (under the state lock).
    pub(super) fn roll(&self, state: &mut PartitionState) -> Result<(), String> {
        let old = &state.active;
        old.file
            .sync_data()
            .map_err(|e| format!("fdatasync of {} failed: {e}", old.path.display()))?;
        let index_path = self.dir.join(index_file_name(old.base_offset()));
        write_file_atomically(self.storage.as_ref(), &index_path, &old.index.encode())
            .map_err(|e| format!("writing {} failed: {e}", index_path.display()))?;
        let base = state.next_offset();
        let path = self.dir.join(segment_file_name(base));
        let file = self
            .storage
            .open(&path, OpenMode::CreateNew)
            .map_err(|e| format!("creating {} failed: {e}", path.display()))?;
        self.storage
            .sync_dir(&self.dir)
            .map_err(|e| format!("fsync of {} failed: {e}", self.dir.display()))?;
        self.write_snapshot(state, base)?;
        let new = Segment {
            path,
            file,
            index: SegmentIndex::new(base, self.config.index_interval_bytes),
        };
        let sealed = std::mem::replace(&mut state.active, new);
        state.sealed.push(sealed);
        if base > state.visible_end {
            state.visible_end = base;
            self.visible_changed.notify_all();
        }
        self.apply_retention(state);
        self.debug_check(state);
        Ok(())
    }

    pub(super) fn write_snapshot(
        &self,
        state: &mut PartitionState,
        next_offset: Offset,
    ) -> Result<(), String> {
        state
            .producers
            .expire(self.clock.now_ms(), self.config.producer_expiry_ms);
        let path = self.dir.join(snapshot_file_name(next_offset));
        let bytes = state.producers.encode_snapshot(next_offset).map_err(|e| {
            format!(
                "encoding the producer snapshot {} failed: {e}",
                path.display()
            )
        })?;
        write_file_atomically(self.storage.as_ref(), &path, &bytes)
            .map_err(|e| format!("writing {} failed: {e}", path.display()))?;
        self.prune_snapshots(state.start_offset());
        self.debug_check(state);
        Ok(())
    }

    /// Deletes all but the newest snapshots, and any from before the log start. Failures
    /// only leave an extra file behind, so they are not errors.
    fn prune_snapshots(&self, start_offset: Offset) {
        let names = match self.storage.list_dir(&self.dir) {
            Ok(names) => names,
            Err(e) => {
                tracing::warn!(path = %self.dir.display(), error = %e, "listing snapshots to prune failed");
                return;
            }
        };
        let mut snapshots: Vec<Offset> = names
            .iter()
            .filter_map(|n| parse_file_name(n, "snapshot"))
            .collect();
        snapshots.sort_by(|a, b| b.cmp(a));
        for (rank, offset) in snapshots.into_iter().enumerate() {
            if rank >= SNAPSHOTS_KEPT || offset < start_offset {
                let path = self.dir.join(snapshot_file_name(offset));
                if let Err(e) = self.storage.remove_file(&path) {
                    tracing::warn!(path = %path.display(), error = %e, "deleting an old producer snapshot failed");
                }
            }
        }
    }

    /// Deletes the oldest sealed segments beyond the size or age limits.
    fn apply_retention(&self, state: &mut PartitionState) -> usize {
        let now_ms = self.clock.now_ms();
        let mut removed = 0;
        while let Some(oldest) = state.sealed.first() {
            let total: u64 = state.segments().map(Segment::len_bytes).sum();
            let too_big = self.config.retention_bytes.is_some_and(|max| total > max);
            let too_old = self
                .config
                .retention_ms
                .is_some_and(|ms| oldest.index.max_timestamp.0 < now_ms.saturating_sub(ms));
            if !(too_big || too_old) {
                break;
            }
            let segment = state.sealed.remove(0);
            // Readers holding the file handle keep reading; the name goes now.
            // A failed delete leaves a file behind that the next open loads again as the
            // oldest segment; it is logged, not an error.
            let index = self.dir.join(index_file_name(segment.base_offset()));
            for path in [&segment.path, &index] {
                if let Err(e) = self.storage.remove_file(path) {
                    tracing::warn!(path = %path.display(), error = %e, "retention could not delete a file");
                }
            }
            removed += 1;
        }
        if removed > 0 {
            let start = state.start_offset();
            state.producers.prune_aborted(start);
            if let Err(e) = self.storage.sync_dir(&self.dir) {
                tracing::warn!(path = %self.dir.display(), error = %e, "fsync of the directory after retention failed");
            }
            self.prune_snapshots(state.start_offset());
            self.debug_check(state);
        }
        removed
    }

    /// Applies retention now; returns the number of segments deleted.
    pub fn enforce_retention(&self) -> usize {
        if self.mode == Mode::ReadOnly {
            return 0;
        }
        let mut state = lock(&self.state);
        self.apply_retention(&mut state)
    }
}
