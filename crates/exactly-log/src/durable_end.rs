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
//! The file is the core's two-slot evidence ([`exactly_core::durable_end`], magic `EXDL`)
//! with a three-word claim `(segment base, position, next offset)`: a torn in-place write
//! can damage only the slot being written, and the other one still holds the previous
//! (true, older) claim. The file is created atomically with both slots valid, so a file
//! without any valid slot is damage.
//!
//! Older builds wrote their own layout: two 36-byte slots at bytes 0 and 64, each
//! `sequence, segment base, position, next offset (u64 LE) | crc32c u32`. Such a file is
//! still read (its slot is marked `legacy`) and replaced by the current layout, with the
//! same claim, when the partition is next opened for writing.

use exactly_core::durable_end as evidence;
use exactly_core::Offset;

/// Name of the evidence file in a partition directory.
pub const DURABLE_END_FILE: &str = "durable-end";

/// Magic of the evidence slots of a partition.
pub(crate) const MAGIC: [u8; 4] = *b"EXDL";
/// Older layout: bytes of one slot, and where slot 1 starts.
const LEGACY_SLOT_BYTES: usize = 36;
const LEGACY_SLOT_STRIDE_BYTES: usize = 64;

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
    /// Read from a file of the older layout (to be replaced by the current one).
    pub legacy: bool,
}

impl DurableEnd {
    /// The claim as the core evidence's words.
    pub(crate) fn words(&self) -> [u64; 3] {
        [self.segment_base.0, self.position, self.next_offset.0]
    }
    /// The claim from the core evidence's words.
    pub(crate) fn from_words([base, position, next]: [u64; 3]) -> Self {
        DurableEnd {
            segment_base: Offset(base),
            position,
            next_offset: Offset(next),
        }
    }
}

/// A whole new file: both slots hold `end`.
pub(crate) fn encode_file(end: DurableEnd) -> Vec<u8> {
    evidence::encode_file(MAGIC, &end.words())
}

/// A slot of the older layout.
fn decode_legacy_slot(bytes: &[u8]) -> Option<Slot> {
    let body = bytes.get(..32)?;
    let crc = u32::from_le_bytes(bytes.get(32..LEGACY_SLOT_BYTES)?.try_into().ok()?);
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
        end: DurableEnd::from_words([base, position, next]),
        legacy: true,
    })
}

/// The newest valid slot of an evidence file, or why there is none.
pub(crate) fn decode_file(bytes: &[u8]) -> Result<Slot, String> {
    match evidence::decode_file::<3>(MAGIC, bytes) {
        Ok(newest) => Ok(Slot {
            sequence: newest.counter,
            end: DurableEnd::from_words(newest.claim),
            legacy: false,
        }),
        Err(reason) => [0, LEGACY_SLOT_STRIDE_BYTES]
            .into_iter()
            .filter_map(|at| bytes.get(at..).and_then(decode_legacy_slot))
            .max_by_key(|slot| slot.sequence)
            .ok_or_else(|| format!("no valid slot in {} bytes ({reason})", bytes.len())),
    }
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
        let slot = evidence::encode_slot(MAGIC, 2, &end(3).words());
        let at = evidence::slot_position(2) as usize;
        file[at..at + slot.len()].copy_from_slice(&slot);
        let newest = decode_file(&file).unwrap();
        assert_eq!((newest.sequence, newest.end), (2, end(3)));
        file[at + 20] ^= 1;
        assert_eq!(decode_file(&file).unwrap().sequence, 1);
        let other = evidence::slot_position(1) as usize;
        file[other + 20] ^= 1;
        assert!(decode_file(&file).is_err());
        assert!(decode_file(&[]).is_err());
    }

    #[test]
    fn a_file_of_the_older_layout_is_read() {
        let legacy_slot = |sequence: u64, e: DurableEnd| {
            let mut out = Vec::new();
            for v in [sequence, e.segment_base.0, e.position, e.next_offset.0] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            let crc = crc32c::crc32c(&out);
            out.extend_from_slice(&crc.to_le_bytes());
            out
        };
        let mut file = legacy_slot(4, end(4));
        file.resize(LEGACY_SLOT_STRIDE_BYTES, 0);
        file.extend_from_slice(&legacy_slot(5, end(5)));
        let newest = decode_file(&file).unwrap();
        assert_eq!(
            (newest.sequence, newest.end, newest.legacy),
            (5, end(5), true)
        );
        file[LEGACY_SLOT_STRIDE_BYTES + 3] ^= 1;
        assert_eq!(decode_file(&file).unwrap().end, end(4));
        file[3] ^= 1;
        assert!(decode_file(&file).is_err());
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
