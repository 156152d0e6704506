//! Segment files: naming, chunked reading, and the scan that recovery, index rebuilds and
//! `verify` share.

use crate::batch::{self, BatchHeader, DecodeError, HEADER_BYTES};
use crate::index::SegmentIndex;
use exactly_core::journal::{self, Damage, RecordFormat};
use exactly_core::{Offset, StorageFile};
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

/// Bytes read per I/O when scanning or reading a segment.
pub(crate) const READ_CHUNK_BYTES: usize = 1 << 20;

/// File name of the segment starting at `base`.
pub fn segment_file_name(base: Offset) -> String {
    format!("{:020}.log", base.0)
}

/// File name of the index of the segment starting at `base`.
pub fn index_file_name(base: Offset) -> String {
    format!("{:020}.index", base.0)
}

/// File name of a producer snapshot valid up to `next_offset`.
pub fn snapshot_file_name(next_offset: Offset) -> String {
    format!("{:020}.snapshot", next_offset.0)
}

/// Parses `NNNNNNNNNNNNNNNNNNNN.<extension>`.
pub fn parse_file_name(name: &str, extension: &str) -> Option<Offset> {
    let stem = name.strip_suffix(extension)?.strip_suffix('.')?;
    (stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()))
        .then(|| stem.parse().ok().map(Offset))
        .flatten()
}

/// One segment: its file and its in-memory index.
#[derive(Debug)]
pub(crate) struct Segment {
    pub path: PathBuf,
    pub file: Arc<dyn StorageFile>,
    pub index: SegmentIndex,
}

impl Segment {
    pub fn base_offset(&self) -> Offset {
        self.index.base_offset
    }
    pub fn len_bytes(&self) -> u64 {
        self.index.segment_bytes
    }
}

/// Sequential reader over `[position, limit)` of a file, one large `pread` at a time.
pub(crate) struct ChunkReader<'a> {
    file: &'a dyn StorageFile,
    /// Zeroed once when it grows; bytes `[consumed, filled)` are valid.
    buf: Vec<u8>,
    filled: usize,
    buf_position: u64,
    consumed: usize,
    limit: u64,
    chunk_bytes: usize,
}

impl<'a> ChunkReader<'a> {
    /// A reader for scans: reads in [`READ_CHUNK_BYTES`] chunks.
    pub fn new(file: &'a dyn StorageFile, position: u64, limit: u64) -> Self {
        Self::with_chunk(file, position, limit, READ_CHUNK_BYTES)
    }

    /// A reader that reads `chunk_bytes` at a time (smaller for reads that stop early).
    pub fn with_chunk(
        file: &'a dyn StorageFile,
        position: u64,
        limit: u64,
        chunk_bytes: usize,
    ) -> Self {
        Self {
            file,
            buf: Vec::new(),
            filled: 0,
            buf_position: position,
            consumed: 0,
            limit,
            chunk_bytes: chunk_bytes.max(batch::HEADER_BYTES),
        }
    }

    /// File position of the next unread byte.
    pub fn position(&self) -> u64 {
        self.buf_position + self.consumed as u64
    }

    /// Up to `n` bytes from the current position (fewer only at `limit`).
    pub fn peek(&mut self, n: usize) -> io::Result<&[u8]> {
        if self.filled - self.consumed < n {
            self.refill(n)?;
        }
        let end = (self.consumed + n).min(self.filled);
        // `consumed <= filled <= buf.len()` always holds (refill keeps `buf` at least
        // `filled` long and `consumed` only advances over filled bytes), so the range exists.
        #[allow(clippy::expect_used)]
        let bytes = self
            .buf
            .get(self.consumed..end)
            .expect("consumed <= end <= filled <= buf.len()");
        Ok(bytes)
    }

    /// Moves the unread bytes to the front and reads at least `n` more (or up to `limit`).
    fn refill(&mut self, n: usize) -> io::Result<()> {
        self.buf.copy_within(self.consumed..self.filled, 0);
        self.filled -= self.consumed;
        self.buf_position += self.consumed as u64;
        self.consumed = 0;
        let end = self.buf_position + self.filled as u64;
        let want = n.max(self.chunk_bytes).saturating_sub(self.filled);
        let extra = self.limit.saturating_sub(end).min(want as u64) as usize;
        if self.buf.len() < self.filled + extra {
            self.buf.resize(self.filled + extra, 0);
        }
        // `buf` was just resized to at least `filled + extra` bytes.
        #[allow(clippy::expect_used)]
        let target = self
            .buf
            .get_mut(self.filled..self.filled + extra)
            .expect("buf resized to filled + extra above");
        self.file.read_exact_at(end, target)?;
        self.filled += extra;
        Ok(())
    }

    pub fn advance(&mut self, n: usize) {
        self.consumed = (self.consumed + n).min(self.filled);
    }
}

/// Why a scan stopped before the end of a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScanStop {
    pub position: u64,
    pub reason: String,
}

/// What a scan of one segment found.
#[derive(Debug)]
pub(crate) struct ScanOutcome {
    pub index: SegmentIndex,
    /// Headers of idempotent batches, for rebuilding producer state.
    pub producer_headers: Vec<BatchHeader>,
    pub batches: u64,
    pub records: u64,
    /// First problem, if the scan did not reach the end of the file.
    pub stop: Option<ScanStop>,
}

/// How much of each batch a scan checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ScanDepth {
    /// Headers and offset continuity only (index rebuild of a sealed segment).
    Headers,
    /// Also the CRC of every batch (recovery of the active segment, `verify`).
    Checksums,
}

/// Reads one batch at the reader's position; on success the reader stays put.
pub(crate) fn peek_batch(
    reader: &mut ChunkReader<'_>,
    batch_bytes_max: u32,
    depth: ScanDepth,
) -> Result<BatchHeader, String> {
    let head = reader
        .peek(HEADER_BYTES)
        .map_err(|e| format!("read failed: {e}"))?;
    let header = batch::decode_header(head, batch_bytes_max).map_err(|e| e.to_string())?;
    if depth == ScanDepth::Checksums {
        let bytes = reader
            .peek(header.batch_len as usize)
            .map_err(|e| format!("read failed: {e}"))?;
        batch::check_batch(bytes, batch_bytes_max).map_err(|e| e.to_string())?;
    } else {
        let available = reader.limit.saturating_sub(reader.position());
        if available < u64::from(header.batch_len) {
            let e = DecodeError::Incomplete {
                needed: header.batch_len as usize,
                available: available as usize,
            };
            return Err(e.to_string());
        }
    }
    Ok(header)
}

/// Scans a segment from its start, stopping at the first batch that is damaged or whose
/// offset does not continue the previous one.
pub(crate) fn scan_segment(
    file: &dyn StorageFile,
    base_offset: Offset,
    len_bytes: u64,
    batch_bytes_max: u32,
    index_interval_bytes: u32,
    depth: ScanDepth,
) -> ScanOutcome {
    let index = SegmentIndex::new(base_offset, index_interval_bytes);
    scan_from(file, index, len_bytes, batch_bytes_max, depth)
}

/// Continues a scan where `index` ends (`index.segment_bytes`) up to `len_bytes`: how a
/// read-only follower picks up batches appended by another process.
pub(crate) fn scan_from(
    file: &dyn StorageFile,
    index: SegmentIndex,
    len_bytes: u64,
    batch_bytes_max: u32,
    depth: ScanDepth,
) -> ScanOutcome {
    let start = index.segment_bytes;
    let mut outcome = ScanOutcome {
        index,
        producer_headers: Vec::new(),
        batches: 0,
        records: 0,
        stop: None,
    };
    let mut reader = ChunkReader::new(file, start, len_bytes);
    while reader.position() < len_bytes {
        let position = reader.position();
        let header = match peek_batch(&mut reader, batch_bytes_max, depth) {
            Ok(h) if h.base_offset == outcome.index.next_offset => h,
            Ok(h) => {
                let reason = format!(
                    "batch has base offset {} but {} was expected",
                    h.base_offset, outcome.index.next_offset
                );
                outcome.stop = Some(ScanStop { position, reason });
                break;
            }
            Err(reason) => {
                outcome.stop = Some(ScanStop { position, reason });
                break;
            }
        };
        outcome.index.on_batch(
            position,
            header.base_offset,
            header.next_offset(),
            header.max_timestamp,
            u64::from(header.batch_len),
        );
        if header.producer.is_some() {
            outcome.producer_headers.push(header);
        }
        outcome.batches += 1;
        outcome.records += u64::from(header.record_count);
        reader.advance(header.batch_len as usize);
    }
    outcome
}

/// The segment's record format for the core's journal recovery rule: a record is a
/// whole, checksummed batch whose base offset is at least `next_offset` (a batch below it
/// cannot continue the log, so it is not evidence that the damage before it was not a
/// torn write).
struct Batches {
    next_offset: Offset,
    batch_bytes_max: u32,
}

impl RecordFormat for Batches {
    type Record = BatchHeader;

    fn decode_at(&self, bytes: &[u8], position: usize) -> Result<(usize, BatchHeader), Damage> {
        let rest = bytes
            .get(position..)
            .ok_or_else(|| Damage::from("position past the end".to_string()))?;
        let header = batch::check_batch(rest, self.batch_bytes_max)
            .map_err(|e| Damage::from(e.to_string()))?;
        if header.base_offset < self.next_offset {
            return Err(Damage::from(format!(
                "batch has base offset {} below {}",
                header.base_offset, self.next_offset
            )));
        }
        Ok((header.batch_len as usize, header))
    }

    fn may_start_at(&self, bytes: &[u8], position: usize) -> bool {
        position
            .checked_add(16)
            .and_then(|at| bytes.get(at))
            .is_some_and(|b| *b == batch::BATCH_MAGIC)
    }
}

/// Whether a whole, checksummed batch with an offset ≥ `next_offset` starts anywhere in
/// `(position, len_bytes)` — the core's search for a valid record after damage
/// ([`exactly_core::journal::valid_record_after`]) over batches. A torn write can only
/// damage the end of a file, so valid data after damaged data means corruption, not a torn
/// tail.
///
/// The batch *at* `position` counts too if it is whole and checksummed but only longer
/// than `batch_bytes_max`: the log was reopened with a smaller limit, and recovery used to
/// truncate that acknowledged batch (and everything after it) as a torn tail.
pub(crate) fn valid_batch_after(
    file: &dyn StorageFile,
    position: u64,
    len_bytes: u64,
    next_offset: Offset,
    batch_bytes_max: u32,
) -> io::Result<Option<u64>> {
    let mut rest = vec![0u8; len_bytes.saturating_sub(position) as usize];
    file.read_exact_at(position, &mut rest)?;
    // The segment format's own limit: a batch can never be longer than a segment.
    let format_max = crate::config::READ_BATCH_BYTES_MAX;
    let at_position = Batches {
        next_offset,
        batch_bytes_max: format_max,
    };
    if at_position.decode_at(&rest, 0).is_ok() {
        return Ok(Some(position));
    }
    let after = Batches {
        next_offset,
        batch_bytes_max,
    };
    Ok(journal::valid_record_after(&rest, 0, &after).map(|at| position + at as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_round_trip() {
        let name = segment_file_name(Offset(42));
        assert_eq!(name, "00000000000000000042.log");
        assert_eq!(parse_file_name(&name, "log"), Some(Offset(42)));
        assert_eq!(parse_file_name(&name, "index"), None);
        assert_eq!(parse_file_name("42.log", "log"), None);
        assert_eq!(parse_file_name("0000000000000000004x.log", "log"), None);
    }
}
