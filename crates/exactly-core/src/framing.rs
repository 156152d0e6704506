//! One frame format for every checksummed blob and journal record `exactly` writes.
//!
//! ```text
//!  0  [u8; 4]  magic    (one per file kind: a frame of another kind is refused)
//!  4  u32 LE   version  (of the body layout; an unknown one is refused, never guessed)
//!  8  u32 LE   body_len
//! 12  u32 LE   crc32c over bytes 0..12 and the body
//! 16  body
//! ```
//!
//! The header layout is fixed across versions, so a reader can always tell *which* version
//! a frame claims before it decides whether it understands it. Older files that started
//! with `magic | u32 version` (checkpoints, segment indexes) are recognised by their old
//! version number through [`peek_version`]; their readers keep an explicit legacy path.
//!
//! Decoding checks, in order: a whole header, the magic, the length limit, a whole body, the
//! CRC, and only then the version — so a damaged version field reads as damage (CRC
//! mismatch), and a frame that checks out but carries a version this build does not know
//! is refused as such. CRC32C detects every single-bit flip and every burst of up to 32
//! bits.

use thiserror::Error;

/// Bytes of a frame header.
pub const HEADER_BYTES: usize = 16;

/// What a frame of one kind looks like: its magic, the version this build writes and
/// reads, and the largest body it accepts (a garbage length is refused before allocating).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameKind {
    /// Magic bytes at the start of every frame of this kind.
    pub magic: [u8; 4],
    /// The body layout version written and accepted.
    pub version: u32,
    /// Largest body accepted on encode and decode.
    pub body_bytes_max: u32,
}

/// Why bytes are not a valid frame of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FrameError {
    /// Fewer bytes than a header.
    #[error("truncated frame: {available} bytes, a header needs {HEADER_BYTES}")]
    Truncated {
        /// Bytes available.
        available: usize,
    },
    /// The magic is not the one of this file kind.
    #[error("bad magic {found:02x?}, expected {expected:02x?}")]
    BadMagic {
        /// Expected magic.
        expected: [u8; 4],
        /// Magic found.
        found: [u8; 4],
    },
    /// The body is longer than this kind allows.
    #[error("frame body of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Body length.
        len: usize,
        /// The limit.
        max: u32,
    },
    /// The declared body runs past the end of the bytes.
    #[error("frame body of {len} bytes runs past the end ({available} bytes after the header)")]
    LengthBeyondFile {
        /// Declared body length.
        len: u32,
        /// Bytes available after the header.
        available: usize,
    },
    /// The checksum does not match.
    #[error("frame checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    CrcMismatch {
        /// CRC in the header.
        stored: u32,
        /// CRC of the bytes.
        computed: u32,
    },
    /// A whole, checksummed frame of a version this build does not read.
    #[error("frame version {found} is not known to this build (it reads version {supported})")]
    UnknownVersion {
        /// Version in the frame.
        found: u32,
        /// Version this build reads.
        supported: u32,
    },
    /// Bytes follow a frame that should fill the whole file.
    #[error("{extra} bytes follow the frame")]
    TrailingBytes {
        /// Bytes after the frame.
        extra: usize,
    },
}

/// A decoded frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// The body.
    pub body: &'a [u8],
    /// Bytes of the whole frame (header and body).
    pub frame_bytes: usize,
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn crc_of(header_start: &[u8], body: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(header_start), body)
}

/// Appends the frame of `body` to `out`. Fails only when the body exceeds
/// `kind.body_bytes_max` (nothing is appended then).
pub fn encode_into(kind: &FrameKind, body: &[u8], out: &mut Vec<u8>) -> Result<(), FrameError> {
    let len = u32::try_from(body.len())
        .ok()
        .filter(|len| *len <= kind.body_bytes_max)
        .ok_or(FrameError::TooLarge {
            len: body.len(),
            max: kind.body_bytes_max,
        })?;
    let mut header = [0u8; 12];
    let (magic, rest) = header.split_at_mut(4);
    magic.copy_from_slice(&kind.magic);
    let (version, length) = rest.split_at_mut(4);
    version.copy_from_slice(&kind.version.to_le_bytes());
    length.copy_from_slice(&len.to_le_bytes());
    out.reserve(HEADER_BYTES + body.len());
    out.extend_from_slice(&header);
    out.extend_from_slice(&crc_of(&header, body).to_le_bytes());
    out.extend_from_slice(body);
    Ok(())
}

/// The frame of `body` (see [`encode_into`]).
pub fn encode(kind: &FrameKind, body: &[u8]) -> Result<Vec<u8>, FrameError> {
    let mut out = Vec::new();
    encode_into(kind, body, &mut out)?;
    Ok(out)
}

/// The version a frame of `magic` claims, read without any check beyond the magic: for
/// choosing between the current layout and an explicit legacy one. The claim is only
/// trusted once the chosen decoder has checked the bytes.
pub fn peek_version(magic: [u8; 4], bytes: &[u8]) -> Result<u32, FrameError> {
    let found: [u8; 4] =
        bytes
            .get(..4)
            .and_then(|m| m.try_into().ok())
            .ok_or(FrameError::Truncated {
                available: bytes.len(),
            })?;
    if found != magic {
        return Err(FrameError::BadMagic {
            expected: magic,
            found,
        });
    }
    u32_at(bytes, 4).ok_or(FrameError::Truncated {
        available: bytes.len(),
    })
}

/// Decodes the frame at the start of `bytes` (more bytes may follow it).
pub fn decode<'a>(kind: &FrameKind, bytes: &'a [u8]) -> Result<Decoded<'a>, FrameError> {
    let truncated = FrameError::Truncated {
        available: bytes.len(),
    };
    let header = bytes.get(..HEADER_BYTES).ok_or(truncated.clone())?;
    let version = peek_version(kind.magic, header)?;
    let (len, stored) = match (u32_at(header, 8), u32_at(header, 12)) {
        (Some(len), Some(stored)) => (len, stored),
        _ => return Err(truncated),
    };
    if len > kind.body_bytes_max {
        return Err(FrameError::TooLarge {
            len: len as usize,
            max: kind.body_bytes_max,
        });
    }
    let available = bytes.len() - HEADER_BYTES;
    let frame_bytes = HEADER_BYTES + len as usize;
    let body = bytes
        .get(HEADER_BYTES..frame_bytes)
        .ok_or(FrameError::LengthBeyondFile { len, available })?;
    // `header` is exactly HEADER_BYTES (16) long, so splitting at 12 cannot fail.
    let (checked_header, _) = header.split_at(12);
    let computed = crc_of(checked_header, body);
    if computed != stored {
        return Err(FrameError::CrcMismatch { stored, computed });
    }
    if version != kind.version {
        return Err(FrameError::UnknownVersion {
            found: version,
            supported: kind.version,
        });
    }
    Ok(Decoded { body, frame_bytes })
}

/// Decodes a frame that must fill `bytes` exactly (a whole-file blob); returns its body.
pub fn decode_whole<'a>(kind: &FrameKind, bytes: &'a [u8]) -> Result<&'a [u8], FrameError> {
    let decoded = decode(kind, bytes)?;
    match bytes.len() - decoded.frame_bytes {
        0 => Ok(decoded.body),
        extra => Err(FrameError::TrailingBytes { extra }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    const KIND: FrameKind = FrameKind {
        magic: *b"TEST",
        version: 2,
        body_bytes_max: 64,
    };

    #[test]
    fn each_check_has_its_error() {
        let bytes = encode(&KIND, b"hello").unwrap();
        assert_eq!(decode_whole(&KIND, &bytes).unwrap(), b"hello");
        assert!(matches!(
            decode(&KIND, &bytes[..10]),
            Err(FrameError::Truncated { available: 10 })
        ));
        assert!(matches!(
            decode(&KIND, &bytes[..20]),
            Err(FrameError::LengthBeyondFile { len: 5, .. })
        ));
        let other = FrameKind {
            magic: *b"OTHR",
            ..KIND
        };
        assert!(matches!(
            decode(&other, &bytes),
            Err(FrameError::BadMagic { .. })
        ));
        let newer = FrameKind { version: 3, ..KIND };
        let future = encode(&newer, b"x").unwrap();
        assert_eq!(
            decode(&KIND, &future),
            Err(FrameError::UnknownVersion {
                found: 3,
                supported: 2
            })
        );
        assert_eq!(peek_version(KIND.magic, &future), Ok(3));
        assert!(matches!(
            encode(&KIND, &[0; 65]),
            Err(FrameError::TooLarge { len: 65, max: 64 })
        ));
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(
            decode_whole(&KIND, &long),
            Err(FrameError::TrailingBytes { extra: 1 })
        );
    }
}
