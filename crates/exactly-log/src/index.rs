//! Sparse offset and time index of one segment (pure, no I/O).
//!
//! Both indexes live in one `.index` file written when a segment is sealed; the active
//! segment's index is rebuilt by the recovery scan, so it is never read from disk.
//!
//! The file is one [`exactly_core::framing`] frame (magic `EXIX`, version 2) whose body is
//!
//! ```text
//!  0  u64  base_offset              32  u32  offset_entry_count (n)
//!  8  u64  next_offset              36  u32  time_entry_count (m)
//! 16  i64  max_timestamp            40  n × { u32 relative_offset, u32 position }
//! 24  u64  segment_bytes                m × { i64 max_timestamp_so_far, u32 relative_offset }
//! ```
//!
//! Version 1 files (older builds) hold the same fields after `magic | u32 version 1` and
//! end with a CRC32C of everything before it; they are still read. A file whose framing,
//! base offset or covered segment length disagree with the segment — or of any other
//! version — is not used: it is rebuilt from the segment (the index is derived data).

use exactly_core::framing::{self, FrameKind};
use exactly_core::{Offset, Timestamp};

const INDEX_MAGIC: [u8; 4] = *b"EXIX";
/// The version written (through the core framing).
const INDEX_VERSION: u32 = 2;
/// Older builds' version: own header, trailing CRC.
const LEGACY_VERSION: u32 = 1;
const KIND: FrameKind = FrameKind {
    magic: INDEX_MAGIC,
    version: INDEX_VERSION,
    body_bytes_max: u32::MAX,
};
/// Bytes of the fixed fields of the body.
const FIXED_BYTES: usize = 40;

/// In-memory sparse index of one segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentIndex {
    /// Offset of the segment's first record.
    pub base_offset: Offset,
    /// Offset after the segment's last record.
    pub next_offset: Offset,
    /// Largest timestamp in the segment (`Timestamp::MIN` when empty).
    pub max_timestamp: Timestamp,
    /// Bytes of segment the index covers.
    pub segment_bytes: u64,
    offsets: Vec<(u32, u32)>,
    times: Vec<(i64, u32)>,
    bytes_since_entry: u64,
    interval_bytes: u64,
}

impl SegmentIndex {
    /// An empty index for a segment starting at `base_offset`.
    pub fn new(base_offset: Offset, interval_bytes: u32) -> Self {
        Self {
            base_offset,
            next_offset: base_offset,
            max_timestamp: Timestamp::MIN,
            segment_bytes: 0,
            offsets: Vec::new(),
            times: Vec::new(),
            bytes_since_entry: 0,
            interval_bytes: u64::from(interval_bytes),
        }
    }

    /// `offset` relative to the segment's base; `None` beyond what a `u32` holds.
    fn relative(&self, offset: Offset) -> Option<u32> {
        u32::try_from(offset.0.saturating_sub(self.base_offset.0)).ok()
    }

    /// Records a batch appended at `position` (which must equal `segment_bytes`).
    pub fn on_batch(
        &mut self,
        position: u64,
        base_offset: Offset,
        next_offset: Offset,
        max_timestamp: Timestamp,
        batch_bytes: u64,
    ) {
        debug_assert_eq!(position, self.segment_bytes, "batches are indexed in order");
        debug_assert_eq!(base_offset, self.next_offset, "offsets are dense");
        let due = self.offsets.is_empty() || self.bytes_since_entry >= self.interval_bytes;
        if due {
            #[allow(clippy::expect_used)]
            // invariant: a batch lies inside its segment, which holds at most
            // SEGMENT_BYTES_LIMIT (2^30) bytes, and offsets are dense with every record
            // taking at least one byte, so a batch starts fewer than 2^32 offsets in.
            let relative = self
                .relative(base_offset)
                .expect("a batch starts within 2^32 offsets of its segment's base");
            self.offsets.push((relative, position as u32));
            if max_timestamp > self.max_timestamp {
                self.times.push((max_timestamp.0, relative));
            }
            self.bytes_since_entry = 0;
        }
        self.bytes_since_entry += batch_bytes;
        self.max_timestamp = self.max_timestamp.max(max_timestamp);
        self.next_offset = next_offset;
        self.segment_bytes = position + batch_bytes;
    }

    /// Byte position of a batch at or before `offset` to start scanning from.
    pub fn position_for_offset(&self, offset: Offset) -> u64 {
        let at = match self.relative(offset) {
            Some(relative) => self.offsets.partition_point(|(rel, _)| *rel <= relative),
            // Further past the base than any batch of a segment can start: every entry is
            // at or before it.
            None => self.offsets.len(),
        };
        match at.checked_sub(1).and_then(|i| self.offsets.get(i)) {
            Some((_, position)) => u64::from(*position),
            None => 0,
        }
    }

    /// Byte position to start scanning from for the first record with timestamp ≥ `target`:
    /// every batch before it has only smaller timestamps.
    pub fn position_for_time(&self, target: Timestamp) -> u64 {
        let at = self.times.partition_point(|(ts, _)| *ts < target.0);
        match at.checked_sub(1).and_then(|i| self.times.get(i)) {
            Some((_, relative)) => {
                self.position_for_offset(Offset(self.base_offset.0 + u64::from(*relative)))
            }
            None => 0,
        }
    }

    /// Serialises the index for its `.index` file.
    pub fn encode(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(FIXED_BYTES + self.offsets.len() * 8 + self.times.len() * 12);
        out.extend_from_slice(&self.base_offset.0.to_le_bytes());
        out.extend_from_slice(&self.next_offset.0.to_le_bytes());
        out.extend_from_slice(&self.max_timestamp.0.to_le_bytes());
        out.extend_from_slice(&self.segment_bytes.to_le_bytes());
        out.extend_from_slice(&(self.offsets.len() as u32).to_le_bytes());
        out.extend_from_slice(&(self.times.len() as u32).to_le_bytes());
        for (relative, position) in &self.offsets {
            out.extend_from_slice(&relative.to_le_bytes());
            out.extend_from_slice(&position.to_le_bytes());
        }
        for (ts, relative) in &self.times {
            out.extend_from_slice(&ts.to_le_bytes());
            out.extend_from_slice(&relative.to_le_bytes());
        }
        let mut file = Vec::with_capacity(framing::HEADER_BYTES + out.len());
        // The body limit is u32::MAX and an index has at most one entry per batch of a
        // segment (≤ 4 GiB, so far fewer than u32::MAX / 12 batches).
        #[allow(clippy::expect_used)]
        framing::encode_into(&KIND, &out, &mut file).expect("an index body fits a frame");
        file
    }

    /// Parses an `.index` file, accepting it only if it matches the segment it claims to
    /// describe. `None` means "damaged or stale: rebuild".
    pub fn decode(
        bytes: &[u8],
        base_offset: Offset,
        segment_bytes: u64,
        interval_bytes: u32,
    ) -> Option<Self> {
        let body = match framing::peek_version(INDEX_MAGIC, bytes).ok()? {
            LEGACY_VERSION => {
                let (body, crc) = bytes.split_at_checked(bytes.len().checked_sub(4)?)?;
                if crc32c::crc32c(body).to_le_bytes() != crc {
                    return None;
                }
                body.get(8..)?
            }
            _ => framing::decode_whole(&KIND, bytes).ok()?,
        };
        let mut r = Reader { bytes: body };
        if r.u64()? != base_offset.0 {
            return None;
        }
        let mut index = Self::new(base_offset, interval_bytes);
        index.next_offset = Offset(r.u64()?);
        index.max_timestamp = Timestamp(r.u64()? as i64);
        index.segment_bytes = r.u64()?;
        let offset_count = r.u32()? as usize;
        let time_count = r.u32()? as usize;
        if index.segment_bytes != segment_bytes || index.next_offset < base_offset {
            return None;
        }
        if r.bytes.len() != offset_count.checked_mul(8)? + time_count.checked_mul(12)? {
            return None;
        }
        for _ in 0..offset_count {
            index.offsets.push((r.u32()?, r.u32()?));
        }
        for _ in 0..time_count {
            index.times.push((r.u64()? as i64, r.u32()?));
        }
        index.is_consistent().then_some(index)
    }

    fn is_consistent(&self) -> bool {
        let span = self.next_offset.0 - self.base_offset.0;
        let offsets_ok = self
            .offsets
            .windows(2)
            .all(|w| matches!(w, [a, b] if a.0 < b.0 && a.1 < b.1))
            && self.offsets.iter().all(|(rel, pos)| {
                u64::from(*rel) < span.max(1) && u64::from(*pos) < self.segment_bytes.max(1)
            });
        let times_ok = self
            .times
            .windows(2)
            .all(|w| matches!(w, [a, b] if a.0 < b.0 && a.1 <= b.1))
            && self
                .times
                .iter()
                .all(|(ts, rel)| *ts <= self.max_timestamp.0 && u64::from(*rel) < span.max(1));
        offsets_ok && times_ok
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, tail) = self.bytes.split_at_checked(N)?;
        self.bytes = tail;
        head.try_into().ok()
    }
    fn u32(&mut self) -> Option<u32> {
        self.take::<4>().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take::<8>().map(u64::from_le_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SegmentIndex {
        let mut index = SegmentIndex::new(Offset(100), 1000);
        let mut position = 0;
        for i in 0..50u64 {
            index.on_batch(
                position,
                Offset(100 + i * 10),
                Offset(110 + i * 10),
                Timestamp(i as i64 * 5),
                300,
            );
            position += 300;
        }
        index
    }

    #[test]
    fn lookups_start_at_or_before_the_target() {
        let index = sample();
        assert_eq!(index.position_for_offset(Offset(100)), 0);
        // Entries every 4 batches (1200 bytes ≥ 1000): batch 4 starts at 1200.
        assert_eq!(index.position_for_offset(Offset(145)), 1200);
        assert_eq!(index.position_for_offset(Offset(139)), 0);
        assert_eq!(index.position_for_time(Timestamp(0)), 0);
        let p = index.position_for_time(Timestamp(100));
        assert!(
            p <= 20 * 300,
            "batch 20 has ts 100; scan starts at or before it: {p}"
        );
    }

    #[test]
    fn encode_decode_round_trip_and_damage_is_refused() {
        let index = sample();
        let bytes = index.encode();
        let back = SegmentIndex::decode(&bytes, Offset(100), 15000, 1000).unwrap();
        assert_eq!(back.offsets, index.offsets);
        assert_eq!(back.times, index.times);
        assert_eq!(back.next_offset, Offset(600));
        assert!(
            SegmentIndex::decode(&bytes, Offset(100), 14999, 1000).is_none(),
            "stale length"
        );
        for i in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[i] ^= 0x10;
            assert!(SegmentIndex::decode(&damaged, Offset(100), 15000, 1000).is_none());
        }
        assert!(
            SegmentIndex::decode(&bytes[..bytes.len() - 1], Offset(100), 15000, 1000).is_none()
        );
    }

    #[test]
    fn a_version_1_file_is_still_read() {
        let index = sample();
        let body = &index.encode()[framing::HEADER_BYTES..];
        let mut legacy = INDEX_MAGIC.to_vec();
        legacy.extend_from_slice(&LEGACY_VERSION.to_le_bytes());
        legacy.extend_from_slice(body);
        let crc = crc32c::crc32c(&legacy);
        legacy.extend_from_slice(&crc.to_le_bytes());
        let back = SegmentIndex::decode(&legacy, Offset(100), 15000, 1000).unwrap();
        assert_eq!(back.encode(), index.encode());
        legacy[20] ^= 1;
        assert!(SegmentIndex::decode(&legacy, Offset(100), 15000, 1000).is_none());
    }
}
