//! The embedded store's snapshot file: its body and its framing.
//!
//! The file `snapshot` is one [`exactly_core::framing`] frame (magic `EXES`, version 1)
//! whose body is postcard([`SnapshotBody`]), replaced atomically. Older builds wrote
//! `crc32c u32 | postcard(SnapshotBody)` without magic; a file that does not start with
//! the magic is read that way (an explicit legacy path: the body is the same, only the
//! framing changed), so a store written by an older build still opens.

use crate::id::MessageId;
use crate::message::{OutboxEntry, Position};
use crate::store::{Outcome, StoreError};
use exactly_core::framing::{self, FrameKind};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// File name of the snapshot in the store directory.
pub(super) const SNAPSHOT_FILE: &str = "snapshot";
/// Version of [`SnapshotBody`] (inside the body, as older builds wrote it).
pub(super) const SNAPSHOT_VERSION: u32 = 1;
/// The frame kind of the snapshot file.
const KIND: FrameKind = FrameKind {
    magic: *b"EXES",
    version: 1,
    body_bytes_max: u32::MAX,
};

/// Everything the store holds, as of the start of journal `generation`.
#[derive(Serialize, Deserialize)]
pub(super) struct SnapshotBody {
    pub version: u32,
    pub generation: u64,
    pub inbox: Vec<(i64, MessageId, Outcome)>,
    pub state: Vec<(Vec<u8>, Vec<u8>)>,
    pub outbox: Vec<OutboxEntry>,
    pub positions: Vec<Position>,
    pub next_outbox_seq: u64,
}

/// The bytes of the snapshot file holding `body`.
pub(super) fn encode(body: &SnapshotBody) -> Result<Vec<u8>, StoreError> {
    let encode_error = |reason: String| StoreError::Encode {
        what: "snapshot",
        reason,
    };
    let body = postcard::to_stdvec(body).map_err(|e| encode_error(e.to_string()))?;
    framing::encode(&KIND, &body).map_err(|e| encode_error(e.to_string()))
}

/// Decodes the snapshot file at `path` (for error messages) from `bytes`.
pub(super) fn decode(path: &Path, bytes: &[u8]) -> Result<SnapshotBody, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        path: path.to_path_buf(),
        position: 0,
        reason,
    };
    let body = if bytes.starts_with(&KIND.magic) {
        framing::decode_whole(&KIND, bytes).map_err(|e| corrupt(format!("snapshot: {e}")))?
    } else {
        let (crc, body) = bytes
            .split_first_chunk::<4>()
            .ok_or_else(|| corrupt("snapshot shorter than its checksum".into()))?;
        if u32::from_le_bytes(*crc) != crc32c::crc32c(body) {
            return Err(corrupt("snapshot checksum mismatch".into()));
        }
        body
    };
    let body: SnapshotBody = postcard::from_bytes(body)
        .map_err(|e| corrupt(format!("snapshot does not decode: {e}")))?;
    if body.version != SNAPSHOT_VERSION {
        return Err(corrupt(format!("snapshot version {}", body.version)));
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SnapshotBody {
        SnapshotBody {
            version: SNAPSHOT_VERSION,
            generation: 9,
            inbox: Vec::new(),
            state: vec![(b"k".to_vec(), b"v".to_vec())],
            outbox: Vec::new(),
            positions: Vec::new(),
            next_outbox_seq: 4,
        }
    }

    #[test]
    fn current_and_older_snapshots_decode_and_damage_is_refused() {
        let path = Path::new("/s/snapshot");
        let bytes = encode(&sample()).unwrap();
        assert_eq!(decode(path, &bytes).unwrap().generation, 9);
        let body = postcard::to_stdvec(&sample()).unwrap();
        let mut legacy = crc32c::crc32c(&body).to_le_bytes().to_vec();
        legacy.extend_from_slice(&body);
        assert_eq!(decode(path, &legacy).unwrap().next_outbox_seq, 4);
        for i in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[i] ^= 0x08;
            assert!(decode(path, &damaged).is_err(), "flip in byte {i}");
        }
        assert!(decode(path, &bytes[..bytes.len() - 1]).is_err());
    }
}
