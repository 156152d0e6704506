//! Durable-end evidence (pure, no I/O): how far a partition's data was known to be durable.
//!
//! Recovery used to treat any damage in the last batch of the active segment as a torn
//! write and cut it — including a batch that had been fsynced and acknowledged long before
//! (a flipped bit, a file truncated by an operator or a broken disk). Its offsets were then
//! handed to new records and `verify` reported a clean log.
//!
//! Each partition keeps a small file, `durable-end`, holding the last *durable* end of its
//! data: the active segment's base offset, the byte position and the next offset. It is
//! rewritten in place **after** every group-commit `fdatasync`, so its claim is always true:
//! everything below it was durable (and possibly acknowledged) when it was written. A
//! recovered end below the claim is damage of durable data, never a torn write.
//!
//! The file has two fixed-size slots written alternately, each with a sequence number and a
//! CRC32C: a torn in-place write can damage only the slot being written, and the other one
//! still holds the previous (true, older) claim. The file is created atomically with both
//! slots valid, so a file without any valid slot is damage.

use exactly_core::Offset;

/// Name of the evidence file in a partition directory.
pub const DURABLE_END_FILE: &str = "durable-end";

/// Bytes of one encoded slot: sequence, segment base, position, next offset (u64 each),
/// CRC32C (u32).
const SLOT_BYTES: usize = 36;
/// Slots start this far apart (slot 1 at byte 64).
const SLOT_STRIDE_BYTES: u64 = 64;
/// Bytes of a file holding both slots.
pub(crate) const FILE_BYTES: usize = SLOT_STRIDE_BYTES as usize + SLOT_BYTES;

/// Where a partition's data was last known to be durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DurableEnd {
    /// Base offset of the segment the position is in.
    pub segment_base: Offset,
    /// Byte position in that segment up to which the data was durable.
    pub position: u64,
    /// Offset after the last durable record (markers included).
    pub next_offset: Offset,
}

/// One slot of the evidence file: its write sequence and its claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Slot {
    pub sequence: u64,
    pub end: DurableEnd,
}

/// The byte position of the slot that write number `sequence` goes to.
pub(crate) fn slot_position(sequence: u64) -> u64 {
    (sequence % 2) * SLOT_STRIDE_BYTES
}

/// Encodes one slot.
pub(crate) fn encode_slot(slot: &Slot) -> [u8; SLOT_BYTES] {
    let mut out = [0u8; SLOT_BYTES];
    let fields = [
        slot.sequence,
        slot.end.segment_base.0,
        slot.end.position,
        slot.end.next_offset.0,
    ];
    for (chunk, value) in out.chunks_exact_mut(8).zip(fields) {
        chunk.copy_from_slice(&value.to_le_bytes());
    }
    // `out` is a fixed `[u8; SLOT_BYTES]` (36 bytes), so its first 32 bytes always exist.
    let (fields_bytes, _) = out.split_at(32);
    let crc = crc32c::crc32c(fields_bytes);
    if let Some(tail) = out.get_mut(32..) {
        tail.copy_from_slice(&crc.to_le_bytes());
    }
    out
}

/// A whole new file: both slots hold `end` (sequences 0 and 1).
pub(crate) fn encode_file(end: DurableEnd) -> Vec<u8> {
    let mut out = vec![0u8; FILE_BYTES];
    for sequence in 0..2 {
        let at = slot_position(sequence) as usize;
        if let Some(target) = out.get_mut(at..at + SLOT_BYTES) {
            target.copy_from_slice(&encode_slot(&Slot { sequence, end }));
        }
    }
    out
}

fn decode_slot(bytes: &[u8]) -> Option<Slot> {
    let body = bytes.get(..32)?;
    let crc = u32::from_le_bytes(bytes.get(32..36)?.try_into().ok()?);
    if crc32c::crc32c(body) != crc {
        return None;
    }
    let mut fields = body
        .chunks_exact(8)
        .filter_map(|c| c.try_into().ok().map(u64::from_le_bytes));
    let (sequence, base, position, next) = (
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
    );
    Some(Slot {
        sequence,
        end: DurableEnd {
            segment_base: Offset(base),
            position,
            next_offset: Offset(next),
        },
    })
}

/// The newest valid slot of an evidence file, or why there is none.
pub(crate) fn decode_file(bytes: &[u8]) -> Result<Slot, String> {
    let slots = [0u64, 1].map(|s| {
        let at = slot_position(s) as usize;
        bytes.get(at..at + SLOT_BYTES).and_then(decode_slot)
    });
    slots
        .into_iter()
        .flatten()
        .max_by_key(|slot| slot.sequence)
        .ok_or_else(|| format!("no valid slot in {} bytes (both CRCs fail)", bytes.len()))
}

/// What recovery would drop below the evidence: `None` when the recovered end reaches it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shortfall {
    /// First offset recovery cannot read.
    pub first_lost_offset: Offset,
    /// Offset after the last record the evidence says was durable.
    pub durable_next_offset: Offset,
    /// Byte position in the active segment the evidence names (when it names it).
    pub durable_position: Option<u64>,
}

impl Shortfall {
    /// Records (and markers) at stake: offsets are dense.
    pub fn offsets_lost(&self) -> u64 {
        self.durable_next_offset.0 - self.first_lost_offset.0
    }
}

/// Compares what recovery found valid in the active segment (base `active_base`, whole
/// batches up to `valid_bytes`, next offset `recovered_next`) with the evidence.
pub(crate) fn shortfall(
    evidence: &DurableEnd,
    active_base: Offset,
    valid_bytes: u64,
    recovered_next: Offset,
) -> Option<Shortfall> {
    let same_segment = evidence.segment_base == active_base;
    let short_bytes = same_segment && valid_bytes < evidence.position;
    if recovered_next >= evidence.next_offset && !short_bytes {
        return None;
    }
    Some(Shortfall {
        first_lost_offset: recovered_next.min(evidence.next_offset),
        durable_next_offset: evidence.next_offset.max(recovered_next),
        durable_position: same_segment.then_some(evidence.position),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn end(n: u64) -> DurableEnd {
        DurableEnd {
            segment_base: Offset(10),
            position: n * 100,
            next_offset: Offset(10 + n),
        }
    }

    #[test]
    fn newest_valid_slot_wins_and_a_torn_slot_falls_back() {
        let mut file = encode_file(end(0));
        assert_eq!(decode_file(&file).unwrap().end, end(0));
        let slot = Slot {
            sequence: 2,
            end: end(3),
        };
        let at = slot_position(2) as usize;
        file[at..at + SLOT_BYTES].copy_from_slice(&encode_slot(&slot));
        assert_eq!(decode_file(&file).unwrap(), slot);
        file[at + 5] ^= 1;
        assert_eq!(decode_file(&file).unwrap().sequence, 1);
        let other = slot_position(1) as usize;
        file[other] ^= 1;
        assert!(decode_file(&file).is_err());
        assert!(decode_file(&[]).is_err());
    }

    #[test]
    fn shortfall_only_below_the_evidence() {
        let e = end(5);
        assert_eq!(shortfall(&e, Offset(10), 500, Offset(15)), None);
        assert_eq!(shortfall(&e, Offset(10), 900, Offset(19)), None);
        let lost = shortfall(&e, Offset(10), 300, Offset(13)).unwrap();
        assert_eq!(lost.offsets_lost(), 2);
        assert_eq!(lost.durable_position, Some(500));
        // An older segment's claim is met once the later segment exists.
        assert_eq!(shortfall(&e, Offset(15), 0, Offset(15)), None);
        // The segment the evidence names is gone or empty.
        assert!(shortfall(&e, Offset(10), 0, Offset(10)).is_some());
    }
}
