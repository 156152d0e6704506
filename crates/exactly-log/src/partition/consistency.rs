//! Invariant checks of a partition's in-memory state (in the manner of redb's
//! `debug_check_consistency`): run under the state lock after each mutation in debug
//! builds, and on demand by tests through `Log::check_consistency`.
//!
//! A violation is a bug in the log, never something input or disk can cause once a
//! partition is open: the debug hook panics, the on-demand check returns it.

use super::{lock, Mode, Partition, PartitionState};
use crate::segment::{parse_file_name, Segment};
use std::path::PathBuf;

/// An invariant of a partition's state that does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("partition {dir} is inconsistent: {what}")]
pub struct Inconsistency {
    /// The partition's directory.
    pub dir: PathBuf,
    /// Which invariant fails, with the values.
    pub what: String,
}

impl PartitionState {
    /// Offsets and segments: segment names match their index, segments are contiguous and
    /// in order, each index is well formed, `last stable ≤ visible end ≤ written end`, and
    /// (for the owner) `start ≤ visible end`; then the producer table's own invariants.
    fn check_consistency(&self, mode: Mode) -> Result<(), String> {
        let mut expected_base = None;
        for segment in self.segments() {
            check_segment(segment)?;
            if let Some(base) = expected_base {
                if segment.base_offset() != base {
                    return Err(format!(
                        "{} starts at offset {} but the previous segment ends at {base}",
                        segment.path.display(),
                        segment.base_offset()
                    ));
                }
            }
            expected_base = Some(segment.index.next_offset);
        }
        let (start, visible, written) = (self.start_offset(), self.visible_end, self.next_offset());
        let stable = self.last_stable_offset();
        if !(stable <= visible && visible <= written) {
            return Err(format!(
                "want last stable {stable} ≤ visible end {visible} ≤ written end {written}"
            ));
        }
        if mode == Mode::ReadWrite && start > visible {
            return Err(format!("start {start} is past the visible end {visible}"));
        }
        self.producers
            .check_consistency(written)
            .map_err(|e| format!("producer table: {e}"))
    }
}

/// One segment's index agrees with its file name and with itself.
fn check_segment(segment: &Segment) -> Result<(), String> {
    let index = &segment.index;
    let named = segment
        .path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| parse_file_name(n, "log"));
    if named != Some(index.base_offset) {
        return Err(format!(
            "{} is indexed as starting at offset {}",
            segment.path.display(),
            index.base_offset
        ));
    }
    if index.next_offset < index.base_offset {
        return Err(format!(
            "{}: next offset {} below base offset {}",
            segment.path.display(),
            index.next_offset,
            index.base_offset
        ));
    }
    if index.segment_bytes == 0 && index.next_offset != index.base_offset {
        return Err(format!(
            "{}: {} bytes indexed for offsets {}..{}",
            segment.path.display(),
            index.segment_bytes,
            index.base_offset,
            index.next_offset
        ));
    }
    Ok(())
}

impl Partition {
    /// Checks the state's invariants, and that the files are at least as long as their
    /// indexes say (exactly as long, for the owner's active segment unless fail-stopped).
    pub fn check_consistency(&self) -> Result<(), Inconsistency> {
        let inconsistent = |what: String| Inconsistency {
            dir: self.dir.clone(),
            what,
        };
        let state = lock(&self.state);
        state.check_consistency(self.mode).map_err(inconsistent)?;
        for segment in state.segments() {
            let on_disk = segment.file.len_bytes().map_err(|e| {
                tracing::warn!(path = %segment.path.display(), error = %e, "cannot read the segment's length");
                inconsistent(format!("length of {}: {e}", segment.path.display()))
            })?;
            let active = std::ptr::eq(segment, &state.active);
            let exact = active && self.mode == Mode::ReadWrite && self.fail.check().is_ok();
            let indexed = segment.len_bytes();
            if on_disk < indexed || (exact && on_disk != indexed) {
                return Err(inconsistent(format!(
                    "{} holds {on_disk} bytes, its index covers {indexed}",
                    segment.path.display()
                )));
            }
        }
        Ok(())
    }

    /// Debug builds: panics if a mutation just broke an invariant of `state` (a bug in the
    /// log; release builds skip the check).
    pub(super) fn debug_check(&self, state: &PartitionState) {
        if cfg!(debug_assertions) {
            let checked = state.check_consistency(self.mode);
            // A failed check is a bug in this module's code, never input or disk damage:
            // opening validates what it loads, and every mutation keeps the invariants.
            assert!(
                checked.is_ok(),
                "partition {} is inconsistent: {checked:?}",
                self.dir.display()
            );
        }
    }
}
