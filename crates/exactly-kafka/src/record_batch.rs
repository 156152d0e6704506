//! Kafka record batches (format v2, big-endian) ⇄ the log's records (pure).
//!
//! Decoding checks the CRC-32C, bounds every count by the bytes that remain before
//! allocating for it, and decompresses with a limit ([`crate::compression`]). Encoding (for
//! Fetch) writes uncompressed, non-transactional batches: isolation is applied by the
//! server when it reads the log, so what a client receives is already what it may see.

use crate::compression::{decompress, Codec, DecompressError};
use crate::envelope::{self, Header, Payload};
use crate::varint::{put_varlong, take_varint, take_varlong};
use exactly_core::Timestamp;
use exactly_log::{Record, StoredRecord};
use thiserror::Error;

/// Bytes before the records of a v2 batch.
pub const BATCH_HEADER_BYTES: usize = 61;
/// The smallest encoded record (length, attributes, three deltas, null key, empty value,
/// no headers): bounds how many records some bytes can hold.
const RECORD_BYTES_MIN: usize = 7;

/// The producer fields of a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchProducer {
    /// Producer id (-1: none).
    pub producer_id: i64,
    /// Producer epoch (-1: none).
    pub epoch: i16,
    /// Sequence of the first record (-1: none).
    pub base_sequence: i32,
}

/// A decoded produced batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProducedBatch {
    /// Producer fields.
    pub producer: BatchProducer,
    /// Bit 4 of the attributes.
    pub transactional: bool,
    /// Bit 5: a control batch (clients never produce one).
    pub control: bool,
    /// The records, translated for the log.
    pub records: Vec<Record>,
}

/// Why produced bytes are not an acceptable record batch.
#[derive(Debug, Error)]
pub enum BatchError {
    /// Fewer bytes than the header or the stated length.
    #[error("record batch truncated")]
    Truncated,
    /// Not format v2.
    #[error("record batch magic {0} is not supported (only v2)")]
    Magic(i8),
    /// The CRC does not match.
    #[error("record batch CRC mismatch")]
    Crc,
    /// A count or length field is out of range.
    #[error("record batch field out of range: {0}")]
    Field(&'static str),
    /// More records than allowed.
    #[error("record batch holds {count} records; at most {max} are accepted")]
    TooManyRecords {
        /// Records in the batch.
        count: i32,
        /// The limit.
        max: u32,
    },
    /// Decompression failed.
    #[error(transparent)]
    Decompress(#[from] DecompressError),
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], BatchError> {
        let (head, tail) = self.0.split_at_checked(n).ok_or(BatchError::Truncated)?;
        self.0 = tail;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], BatchError> {
        let (head, tail) = self
            .0
            .split_first_chunk::<N>()
            .ok_or(BatchError::Truncated)?;
        self.0 = tail;
        Ok(*head)
    }
    fn i16(&mut self) -> Result<i16, BatchError> {
        Ok(i16::from_be_bytes(self.array()?))
    }
    fn i32(&mut self) -> Result<i32, BatchError> {
        Ok(i32::from_be_bytes(self.array()?))
    }
    fn i64(&mut self) -> Result<i64, BatchError> {
        Ok(i64::from_be_bytes(self.array()?))
    }
    fn varint(&mut self, what: &'static str) -> Result<i32, BatchError> {
        take_varint(&mut self.0).ok_or(BatchError::Field(what))
    }
    fn varlong(&mut self, what: &'static str) -> Result<i64, BatchError> {
        take_varlong(&mut self.0).ok_or(BatchError::Field(what))
    }
    /// Bytes of varint length `len`; -1 is null.
    fn nullable(&mut self, what: &'static str) -> Result<Option<Vec<u8>>, BatchError> {
        match self.varint(what)? {
            -1 => Ok(None),
            len if len >= 0 => Ok(Some(self.take(len as usize)?.to_vec())),
            _ => Err(BatchError::Field(what)),
        }
    }
}

/// Limits applied while decoding.
#[derive(Clone, Copy, Debug)]
pub struct DecodeLimits {
    /// Most records per batch.
    pub records_max: u32,
    /// Most bytes the records may decompress to.
    pub decompressed_bytes_max: usize,
}

/// Splits a partition's produced bytes into batches and decodes each.
pub fn decode_batches(
    bytes: &[u8],
    limits: DecodeLimits,
) -> Result<Vec<ProducedBatch>, BatchError> {
    let mut batches = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let len_field = rest
            .get(8..12)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .ok_or(BatchError::Truncated)?;
        let batch_len = usize::try_from(i32::from_be_bytes(len_field))
            .map_err(|_| BatchError::Field("batch length"))?;
        let (batch, tail) = rest
            .split_at_checked(12 + batch_len)
            .ok_or(BatchError::Truncated)?;
        batches.push(decode_batch(batch, limits)?);
        rest = tail;
    }
    Ok(batches)
}

fn decode_batch(batch: &[u8], limits: DecodeLimits) -> Result<ProducedBatch, BatchError> {
    let mut c = Cursor(batch);
    let _base_offset = c.i64()?;
    let _batch_len = c.i32()?;
    let _leader_epoch = c.i32()?;
    let magic = i8::from_be_bytes(c.array()?);
    if magic != 2 {
        return Err(BatchError::Magic(magic));
    }
    let crc = u32::from_be_bytes(c.array()?);
    if crc32c::crc32c(c.0) != crc {
        return Err(BatchError::Crc);
    }
    let attributes = c.i16()?;
    let _last_offset_delta = c.i32()?;
    let base_timestamp = c.i64()?;
    let _max_timestamp = c.i64()?;
    let producer = BatchProducer {
        producer_id: c.i64()?,
        epoch: c.i16()?,
        base_sequence: c.i32()?,
    };
    let count = c.i32()?;
    if count < 0 || count as u32 > limits.records_max {
        return Err(BatchError::TooManyRecords {
            count,
            max: limits.records_max,
        });
    }
    let codec = Codec::from_attributes(attributes)?;
    let body = decompress(codec, c.0, limits.decompressed_bytes_max)?;
    let records = decode_records(&body, count as usize, base_timestamp)?;
    Ok(ProducedBatch {
        producer,
        transactional: attributes & 0x10 != 0,
        control: attributes & 0x20 != 0,
        records,
    })
}

fn decode_records(
    body: &[u8],
    count: usize,
    base_timestamp: i64,
) -> Result<Vec<Record>, BatchError> {
    if count > body.len() / RECORD_BYTES_MIN + 1 {
        return Err(BatchError::Field("record count exceeds the bytes"));
    }
    let mut records = Vec::with_capacity(count);
    let mut c = Cursor(body);
    for _ in 0..count {
        let len = c.varint("record length")?;
        let len = usize::try_from(len).map_err(|_| BatchError::Field("record length"))?;
        let mut r = Cursor(c.take(len)?);
        let _attributes = r.take(1)?;
        let timestamp_delta = r.varlong("timestamp delta")?;
        let _offset_delta = r.varint("offset delta")?;
        let key = r.nullable("key length")?;
        let value = r.nullable("value length")?;
        let header_count = r.varint("header count")?;
        let header_count =
            usize::try_from(header_count).map_err(|_| BatchError::Field("header count"))?;
        if header_count > r.0.len() / 2 {
            return Err(BatchError::Field("header count exceeds the bytes"));
        }
        let mut headers: Vec<Header> = Vec::with_capacity(header_count);
        for _ in 0..header_count {
            let key = r
                .nullable("header key length")?
                .ok_or(BatchError::Field("null header key"))?;
            headers.push((key, r.nullable("header value length")?));
        }
        records.push(Record {
            timestamp: Timestamp(base_timestamp.saturating_add(timestamp_delta)),
            key,
            value: envelope::wrap(&Payload { value, headers }),
        });
    }
    Ok(records)
}

/// Encodes stored records (ascending offsets) as uncompressed v2 batches, a new batch
/// whenever an offset or time delta would not fit its field.
pub fn encode_batches(
    records: &[StoredRecord],
    out: &mut Vec<u8>,
) -> Result<(), envelope::EnvelopeError> {
    let mut start = 0;
    while let Some(first) = records.get(start) {
        let mut end = start + 1;
        while let Some(next) = records.get(end) {
            let fits = next.offset.0 - first.offset.0 <= i32::MAX as u64
                && next.timestamp.0.checked_sub(first.timestamp.0).is_some();
            if !fits {
                break;
            }
            end += 1;
        }
        // start < end <= records.len(): `records.get(end - 1)` existed when `end` grew.
        #[allow(clippy::expect_used)]
        let batch = records
            .get(start..end)
            .expect("start..end lies within records");
        encode_batch(batch, out)?;
        start = end;
    }
    Ok(())
}

fn encode_batch(
    records: &[StoredRecord],
    out: &mut Vec<u8>,
) -> Result<(), envelope::EnvelopeError> {
    let (Some(first), Some(last)) = (records.first(), records.last()) else {
        return Ok(());
    };
    let mut body = Vec::new();
    let mut record = Vec::new();
    for stored in records {
        let payload = envelope::unwrap(&stored.value)?;
        record.clear();
        record.push(0); // attributes
        put_varlong(&mut record, stored.timestamp.0 - first.timestamp.0);
        put_varlong(&mut record, (stored.offset.0 - first.offset.0) as i64);
        put_nullable(&mut record, stored.key.as_deref());
        put_nullable(&mut record, payload.value.as_deref());
        put_varlong(&mut record, payload.headers.len() as i64);
        for (key, value) in &payload.headers {
            put_nullable(&mut record, Some(key));
            put_nullable(&mut record, value.as_deref());
        }
        put_varlong(&mut body, record.len() as i64);
        body.extend_from_slice(&record);
    }
    // `records` is not empty (`first` exists), so there is a maximum.
    #[allow(clippy::expect_used)]
    let max_timestamp = records
        .iter()
        .map(|r| r.timestamp.0)
        .max()
        .expect("records is not empty");
    // From the attributes on: the part the CRC covers.
    let mut covered = Vec::with_capacity(BATCH_HEADER_BYTES - 21 + body.len());
    covered.extend_from_slice(&0i16.to_be_bytes()); // attributes: uncompressed, create time
    covered.extend_from_slice(&((last.offset.0 - first.offset.0) as i32).to_be_bytes());
    covered.extend_from_slice(&first.timestamp.0.to_be_bytes());
    covered.extend_from_slice(&max_timestamp.to_be_bytes());
    covered.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
    covered.extend_from_slice(&(-1i16).to_be_bytes()); // producer epoch
    covered.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
    covered.extend_from_slice(&(records.len() as i32).to_be_bytes());
    covered.extend_from_slice(&body);
    let batch_len = 4 + 1 + 4 + covered.len(); // leader epoch, magic, crc, rest
    out.extend_from_slice(&(first.offset.0 as i64).to_be_bytes());
    out.extend_from_slice(&(batch_len as i32).to_be_bytes());
    out.extend_from_slice(&0i32.to_be_bytes()); // partition leader epoch
    out.push(2); // magic
    out.extend_from_slice(&crc32c::crc32c(&covered).to_be_bytes());
    out.extend_from_slice(&covered);
    Ok(())
}

/// A transactional control batch holding one commit marker at `offset` (no producer): a
/// client skips it and continues after `offset`.
pub fn encode_control_batch(offset: u64, out: &mut Vec<u8>) {
    let mut record = vec![0u8]; // attributes
    put_varlong(&mut record, 0); // timestamp delta
    put_varlong(&mut record, 0); // offset delta
    put_nullable(&mut record, Some(&[0, 0, 0, 1])); // key: version 0, type 1 (commit)
    put_nullable(&mut record, Some(&[0, 0, 0, 0, 0, 0])); // value: version 0, coordinator epoch 0
    put_varlong(&mut record, 0); // headers
    let mut body = Vec::with_capacity(record.len() + 1);
    put_varlong(&mut body, record.len() as i64);
    body.extend_from_slice(&record);
    let mut covered = Vec::with_capacity(40 + body.len());
    covered.extend_from_slice(&0x30i16.to_be_bytes()); // transactional | control
    covered.extend_from_slice(&0i32.to_be_bytes()); // last offset delta
    covered.extend_from_slice(&(-1i64).to_be_bytes()); // first timestamp
    covered.extend_from_slice(&(-1i64).to_be_bytes()); // max timestamp
    covered.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
    covered.extend_from_slice(&(-1i16).to_be_bytes()); // producer epoch
    covered.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
    covered.extend_from_slice(&1i32.to_be_bytes()); // one record
    covered.extend_from_slice(&body);
    let batch_len = 4 + 1 + 4 + covered.len();
    out.extend_from_slice(&(offset as i64).to_be_bytes());
    out.extend_from_slice(&(batch_len as i32).to_be_bytes());
    out.extend_from_slice(&0i32.to_be_bytes());
    out.push(2);
    out.extend_from_slice(&crc32c::crc32c(&covered).to_be_bytes());
    out.extend_from_slice(&covered);
}

fn put_nullable(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        Some(bytes) => {
            put_varlong(out, bytes.len() as i64);
            out.extend_from_slice(bytes);
        }
        None => put_varlong(out, -1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use exactly_core::Offset;

    fn limits() -> DecodeLimits {
        DecodeLimits {
            records_max: 1000,
            decompressed_bytes_max: 1 << 20,
        }
    }

    #[test]
    fn encoded_batches_decode_to_the_same_records() -> Result<(), Box<dyn std::error::Error>> {
        let headers = vec![(b"h".to_vec(), Some(b"1".to_vec()))];
        let stored: Vec<StoredRecord> = (0..5u64)
            .map(|i| StoredRecord {
                offset: Offset(10 + i * 2),
                timestamp: Timestamp(1000 + i as i64),
                key: (i % 2 == 0).then(|| vec![i as u8]),
                value: envelope::wrap(&Payload {
                    value: Some(vec![i as u8; 3]),
                    headers: headers.clone(),
                }),
            })
            .collect();
        let mut bytes = Vec::new();
        encode_batches(&stored, &mut bytes)?;
        let batches = decode_batches(&bytes, limits())?;
        let decoded: Vec<Record> = batches.into_iter().flat_map(|b| b.records).collect();
        let expected: Vec<Record> = stored
            .iter()
            .map(|s| Record {
                timestamp: s.timestamp,
                key: s.key.clone(),
                value: s.value.clone(),
            })
            .collect();
        assert_eq!(decoded, expected);
        Ok(())
    }

    #[test]
    fn damaged_or_oversized_batches_are_refused() -> Result<(), Box<dyn std::error::Error>> {
        let stored = vec![StoredRecord {
            offset: Offset(0),
            timestamp: Timestamp(0),
            key: None,
            value: b"v".to_vec(),
        }];
        let mut bytes = Vec::new();
        encode_batches(&stored, &mut bytes)?;
        let mut flipped = bytes.clone();
        if let Some(last) = flipped.last_mut() {
            *last ^= 1;
        }
        assert!(matches!(
            decode_batches(&flipped, limits()),
            Err(BatchError::Crc)
        ));
        let strict = DecodeLimits {
            records_max: 0,
            decompressed_bytes_max: 1 << 20,
        };
        assert!(matches!(
            decode_batches(&bytes, strict),
            Err(BatchError::TooManyRecords { .. })
        ));
        assert!(decode_batches(&bytes[..bytes.len() - 1], limits()).is_err());
        Ok(())
    }
}
