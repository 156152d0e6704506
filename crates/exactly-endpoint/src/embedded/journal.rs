//! The embedded store's journal: its records, their framing, and its recovery.
//!
//! Each record is a [`exactly_core::framing`] frame (magic `EXEJ`, version 1) whose body is
//! postcard([`Frame`]). Older builds wrote `magic 0x4550_4A31 u32 | body_len u32 |
//! crc32c(len ‖ body) u32 | body`; such frames are still read (a journal may hold both: one
//! written by an older build and continued by this one), never written.
//!
//! Recovery is the core's journal rule ([`exactly_core::journal`]): a torn tail (nothing
//! valid after it, and beyond the acknowledged bytes) is cut — it is a commit whose sync
//! never returned; damage below the acknowledged bytes, or followed by a valid frame, is
//! [`StoreError::Corrupt`]: cutting it would lose acknowledged commits.

use crate::store::{Commit, StoreError};
use exactly_core::framing::{self, FrameKind};
use exactly_core::journal::{self as rule, Damage, RecordFormat, RecoveryError};
use exactly_core::storage::read_file;
use exactly_core::{Storage, StorageFile};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Largest frame body accepted on recovery (rejects a garbage length before allocating).
pub const FRAME_BODY_BYTES_MAX: u32 = 256 << 20;
/// The frame kind of journal records.
const KIND: FrameKind = FrameKind {
    magic: *b"EXEJ",
    version: 1,
    body_bytes_max: FRAME_BODY_BYTES_MAX,
};
/// The older builds' frame magic (a little-endian u32) and header size.
const LEGACY_MAGIC: u32 = 0x4550_4A31;
const LEGACY_HEADER_BYTES: usize = 12;

/// One journal record.
#[derive(Serialize, Deserialize)]
pub(super) enum Frame {
    /// A committed transaction.
    Commit(Commit),
    /// Outbox entries up to this seq were published.
    Dispatched(u64),
}

/// The bytes of `frame` as a journal record.
pub(super) fn encode_frame(frame: &Frame) -> Result<Vec<u8>, StoreError> {
    let encode_error = |reason: String| StoreError::Encode {
        what: "journal frame",
        reason,
    };
    let body = postcard::to_stdvec(frame).map_err(|e| encode_error(e.to_string()))?;
    framing::encode(&KIND, &body).map_err(|e| encode_error(e.to_string()))
}

/// A frame of the older layout at the start of `bytes`: its body and length.
fn decode_legacy(bytes: &[u8]) -> Result<(&[u8], usize), String> {
    let header = bytes
        .get(..LEGACY_HEADER_BYTES)
        .ok_or_else(|| format!("truncated frame header ({} bytes)", bytes.len()))?;
    let word = |i: usize| -> Option<u32> {
        Some(u32::from_le_bytes(header.get(i..i + 4)?.try_into().ok()?))
    };
    let (Some(len), Some(crc)) = (word(4), word(8)) else {
        return Err("truncated frame header".into());
    };
    if len > FRAME_BODY_BYTES_MAX {
        return Err(format!("frame body of {len} bytes exceeds the limit"));
    }
    let end = LEGACY_HEADER_BYTES + len as usize;
    let body = bytes
        .get(LEGACY_HEADER_BYTES..end)
        .ok_or_else(|| format!("frame body of {len} bytes runs past the end"))?;
    if crc32c::crc32c_append(crc32c::crc32c(&len.to_le_bytes()), body) != crc {
        return Err("frame checksum mismatch".into());
    }
    Ok((body, end))
}

/// The journal's record format for the recovery rule: current frames and older ones.
struct Frames;

impl RecordFormat for Frames {
    type Record = Frame;

    fn decode_at(&self, bytes: &[u8], position: usize) -> Result<(usize, Frame), Damage> {
        let rest = bytes
            .get(position..)
            .ok_or_else(|| Damage::from("position past the end".to_string()))?;
        let (body, len) = if rest.starts_with(&KIND.magic) {
            let decoded = framing::decode(&KIND, rest)?;
            (decoded.body, decoded.frame_bytes)
        } else if rest.starts_with(&LEGACY_MAGIC.to_le_bytes()) {
            decode_legacy(rest)?
        } else {
            return Err(Damage::from("no frame magic".to_string()));
        };
        let frame = postcard::from_bytes(body)
            .map_err(|e| Damage::from(format!("frame body does not decode: {e}")))?;
        Ok((len, frame))
    }

    fn may_start_at(&self, bytes: &[u8], position: usize) -> bool {
        bytes.get(position..position + 4).is_some_and(|m| {
            m == KIND.magic.as_slice() || m == LEGACY_MAGIC.to_le_bytes().as_slice()
        })
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| {
        tracing::warn!(path = %path.display(), error = %source, "journal I/O failed");
        StoreError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Replays the journal at `path` into `apply`; returns the length of its valid prefix,
/// after cutting a torn tail (see the module docs).
pub(super) fn replay_journal(
    storage: &dyn Storage,
    path: &Path,
    journal: &dyn StorageFile,
    acknowledged_bytes: u64,
    apply: &mut dyn FnMut(Frame),
) -> Result<u64, StoreError> {
    let bytes = read_file(storage, path).map_err(io_error(path))?;
    let recovery = rule::recover(path, &bytes, &Frames, acknowledged_bytes, |frame| {
        apply(frame)
    })
    .map_err(|e| {
        let reason = match &e {
            RecoveryError::DamageBeforeValid {
                valid_at, reason, ..
            } => format!("bad frame ({reason}) followed by a valid frame at byte {valid_at}"),
            RecoveryError::DamagedDurable {
                position, reason, ..
            } => format!(
                "damaged commit ({reason}) in bytes {position}..{acknowledged_bytes}, which \
                 were acknowledged as durable (file is {} bytes)",
                bytes.len()
            ),
            other => format!("{other} (acknowledged commits are missing)"),
        };
        StoreError::Corrupt {
            path: path.to_path_buf(),
            position: e.position(),
            reason,
        }
    })?;
    if let Some(torn) = recovery.torn {
        // A torn tail: bytes of a commit that was never acknowledged.
        tracing::info!(
            path = %path.display(),
            position = torn.position,
            bytes_removed = torn.bytes_removed,
            reason = %torn.reason,
            "cutting the torn tail of the store journal"
        );
        journal.set_len(torn.position).map_err(io_error(path))?;
        journal.sync_data().map_err(io_error(path))?;
    }
    Ok(recovery.valid_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn legacy_frame(frame: &Frame) -> Vec<u8> {
        let body = postcard::to_stdvec(frame).unwrap();
        let len = (body.len() as u32).to_le_bytes();
        let crc = crc32c::crc32c_append(crc32c::crc32c(&len), &body);
        let mut bytes = LEGACY_MAGIC.to_le_bytes().to_vec();
        bytes.extend_from_slice(&len);
        bytes.extend_from_slice(&crc.to_le_bytes());
        bytes.extend_from_slice(&body);
        bytes
    }

    #[test]
    fn frames_round_trip_and_torn_frames_are_rejected() {
        let bytes = encode_frame(&Frame::Dispatched(7)).unwrap();
        assert!(matches!(
            Frames.decode_at(&bytes, 0),
            Ok((n, Frame::Dispatched(7))) if n == bytes.len()
        ));
        let torn = bytes.get(..bytes.len() - 1).unwrap();
        assert!(Frames.decode_at(torn, 0).is_err());
        let mut flipped = bytes.clone();
        if let Some(b) = flipped.last_mut() {
            *b ^= 1;
        }
        assert!(Frames.decode_at(&flipped, 0).is_err());
        assert_eq!(
            rule::valid_record_after(&[&[0u8; 3][..], &bytes].concat(), 0, &Frames),
            Some(3)
        );
    }

    #[test]
    fn a_journal_of_older_frames_continued_by_current_ones_replays() {
        let mut bytes = legacy_frame(&Frame::Dispatched(1));
        bytes.extend_from_slice(&legacy_frame(&Frame::Dispatched(2)));
        bytes.extend_from_slice(&encode_frame(&Frame::Dispatched(3)).unwrap());
        let mut seen = Vec::new();
        let recovery = rule::recover(Path::new("/j"), &bytes, &Frames, 0, |f| {
            if let Frame::Dispatched(n) = f {
                seen.push(n);
            }
        })
        .unwrap();
        assert_eq!(seen, [1, 2, 3]);
        assert_eq!(recovery.valid_bytes, bytes.len() as u64);
        // Damage in an older frame with a current one after it is still refused.
        bytes[13] ^= 1; // the last body byte of the first (14-byte) frame
        assert!(matches!(
            rule::recover(Path::new("/j"), &bytes, &Frames, 0, |_| {}),
            Err(RecoveryError::DamageBeforeValid { position: 0, .. })
        ));
    }
}
