//! Bounded decompression of produced record batches (gzip, snappy, lz4, zstd): a batch that
//! expands past the limit is refused as soon as the limit is crossed, never buffered whole.

use std::io::Read;
use thiserror::Error;

/// The compression codecs of the Kafka record batch (attribute bits 0–2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// Not compressed.
    None,
    /// gzip.
    Gzip,
    /// Snappy (raw, or in the xerial framing Java clients write).
    Snappy,
    /// LZ4 frames.
    Lz4,
    /// Zstandard.
    Zstd,
}

impl Codec {
    /// The codec of batch attributes `attributes`.
    pub fn from_attributes(attributes: i16) -> Result<Self, DecompressError> {
        match attributes & 0x7 {
            0 => Ok(Self::None),
            1 => Ok(Self::Gzip),
            2 => Ok(Self::Snappy),
            3 => Ok(Self::Lz4),
            4 => Ok(Self::Zstd),
            other => Err(DecompressError::UnknownCodec(other)),
        }
    }
}

/// Why a batch's records could not be decompressed.
#[derive(Debug, Error)]
pub enum DecompressError {
    /// Attribute bits name no codec.
    #[error("unknown compression codec {0}")]
    UnknownCodec(i16),
    /// The records expand past the limit.
    #[error("records expand past {limit_bytes} bytes")]
    TooLarge {
        /// The limit.
        limit_bytes: usize,
    },
    /// The compressed bytes are malformed.
    #[error("{codec:?} data is malformed: {reason}")]
    Malformed {
        /// The codec.
        codec: Codec,
        /// What the decoder said.
        reason: String,
    },
}

const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";
const XERIAL_HEADER_BYTES: usize = 16;

/// The records section of a batch compressed with `codec`, decompressed, at most
/// `limit_bytes` long.
pub fn decompress(
    codec: Codec,
    bytes: &[u8],
    limit_bytes: usize,
) -> Result<Vec<u8>, DecompressError> {
    let malformed = |reason: String| DecompressError::Malformed { codec, reason };
    match codec {
        Codec::None => Ok(bytes.to_vec()),
        Codec::Gzip => read_bounded(flate2::read::GzDecoder::new(bytes), codec, limit_bytes),
        Codec::Lz4 => read_bounded(
            lz4_flex::frame::FrameDecoder::new(bytes),
            codec,
            limit_bytes,
        ),
        Codec::Zstd => {
            let decoder = ruzstd::decoding::StreamingDecoder::new(bytes)
                .map_err(|e| malformed(e.to_string()))?;
            read_bounded(decoder, codec, limit_bytes)
        }
        Codec::Snappy if bytes.starts_with(XERIAL_MAGIC) => {
            match bytes.get(XERIAL_HEADER_BYTES..) {
                Some(blocks) => xerial_blocks(blocks, limit_bytes),
                None => Err(malformed("xerial header truncated".to_string())),
            }
        }
        Codec::Snappy => {
            let mut out = Vec::new();
            snappy_block(bytes, &mut out, limit_bytes)?;
            Ok(out)
        }
    }
}

fn read_bounded(
    reader: impl Read,
    codec: Codec,
    limit_bytes: usize,
) -> Result<Vec<u8>, DecompressError> {
    let mut out = Vec::new();
    reader
        .take(limit_bytes as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| DecompressError::Malformed {
            codec,
            reason: e.to_string(),
        })?;
    if out.len() > limit_bytes {
        return Err(DecompressError::TooLarge { limit_bytes });
    }
    Ok(out)
}

/// The xerial framing: a 16-byte header, then blocks of `u32` big-endian length + raw
/// snappy.
fn xerial_blocks(mut rest: &[u8], limit_bytes: usize) -> Result<Vec<u8>, DecompressError> {
    let mut out = Vec::new();
    while !rest.is_empty() {
        let Some((len, tail)) = rest.split_first_chunk::<4>() else {
            return Err(DecompressError::Malformed {
                codec: Codec::Snappy,
                reason: "truncated block length".into(),
            });
        };
        let len = u32::from_be_bytes(*len) as usize;
        let (block, tail) =
            tail.split_at_checked(len)
                .ok_or_else(|| DecompressError::Malformed {
                    codec: Codec::Snappy,
                    reason: "truncated block".into(),
                })?;
        snappy_block(block, &mut out, limit_bytes)?;
        rest = tail;
    }
    Ok(out)
}

fn snappy_block(
    block: &[u8],
    out: &mut Vec<u8>,
    limit_bytes: usize,
) -> Result<(), DecompressError> {
    let malformed = |e: snap::Error| DecompressError::Malformed {
        codec: Codec::Snappy,
        reason: e.to_string(),
    };
    // The block states its decompressed length up front: check it before allocating.
    let len = snap::raw::decompress_len(block).map_err(malformed)?;
    if out.len().saturating_add(len) > limit_bytes {
        return Err(DecompressError::TooLarge { limit_bytes });
    }
    let start = out.len();
    out.resize(start + len, 0);
    // `out` was just resized to `start + len`, so `start..` is in bounds.
    #[allow(clippy::expect_used)]
    let space = out.get_mut(start..).expect("resized past start");
    let written = snap::raw::Decoder::new()
        .decompress(block, space)
        .map_err(malformed)?;
    out.truncate(start + written);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn gzip_within_and_past_the_limit() -> Result<(), Box<dyn std::error::Error>> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(&[7u8; 10_000])?;
        let bytes = encoder.finish()?;
        assert_eq!(decompress(Codec::Gzip, &bytes, 10_000)?, vec![7u8; 10_000]);
        assert!(matches!(
            decompress(Codec::Gzip, &bytes, 9_999),
            Err(DecompressError::TooLarge { .. })
        ));
        Ok(())
    }

    #[test]
    fn snappy_raw_and_lz4_round_trip() -> Result<(), Box<dyn std::error::Error>> {
        let data = b"abcabcabcabcabcabc".repeat(100);
        let raw = snap::raw::Encoder::new().compress_vec(&data)?;
        assert_eq!(decompress(Codec::Snappy, &raw, 1 << 20)?, data);
        assert!(decompress(Codec::Snappy, &raw, 10).is_err());
        let mut lz4 = lz4_flex::frame::FrameEncoder::new(Vec::new());
        lz4.write_all(&data)?;
        let lz4 = lz4.finish()?;
        assert_eq!(decompress(Codec::Lz4, &lz4, 1 << 20)?, data);
        Ok(())
    }
}
