//! The body of a checkpoint row: the checkpoint with its large states replaced by blob
//! references ([`StoredBody`], postcard), and its SHA-256 checksum (verified on load).

use crate::checkpoint_blobs::Digest;
use exactly_state::Checkpoint;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;

/// A state stored as a blob.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BlobRef {
    /// SHA-256 of the state's bytes.
    pub digest: [u8; 32],
    /// Their length.
    pub bytes_len: u64,
}

/// What a checkpoint row's `body` holds (format 1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredBody {
    pub id: u64,
    pub clock_ms: i64,
    pub positions: BTreeMap<String, u64>,
    pub metadata: BTreeMap<String, String>,
    /// States up to the inline limit.
    pub inline: BTreeMap<String, Vec<u8>>,
    /// Larger states, by name.
    pub blobs: BTreeMap<String, BlobRef>,
}

/// A checkpoint split for storage: the row body and the blobs to upload first.
pub(crate) struct Split {
    pub body: StoredBody,
    pub blobs: Vec<(Digest, Vec<u8>)>,
}

/// Splits `checkpoint`: states longer than `inline_bytes_max` become blobs.
pub(crate) fn split(checkpoint: &Checkpoint, inline_bytes_max: usize) -> Split {
    let mut body = StoredBody {
        id: checkpoint.id,
        clock_ms: checkpoint.clock.0,
        positions: checkpoint.positions.clone(),
        metadata: checkpoint.metadata.clone(),
        inline: BTreeMap::new(),
        blobs: BTreeMap::new(),
    };
    let mut blobs = Vec::new();
    for (name, bytes) in &checkpoint.states {
        if bytes.len() <= inline_bytes_max {
            body.inline.insert(name.clone(), bytes.clone());
            continue;
        }
        let digest = Digest::of(bytes);
        body.blobs.insert(
            name.clone(),
            BlobRef {
                digest: digest.0,
                bytes_len: bytes.len() as u64,
            },
        );
        blobs.push((digest, bytes.clone()));
    }
    Split { body, blobs }
}

/// The SHA-256 of a row body.
pub(crate) fn checksum(body: &[u8]) -> [u8; 32] {
    Sha256::digest(body).into()
}
