//! [`CheckpointStore`]: consistent cuts on disk. A checkpoint is one file written atomically
//! (temp → fsync → rename → fsync dir) — its rename is the commit point. The newest K are
//! kept; restore takes the newest one that checks out, reporting any it had to skip.
//!
//! File layout: `checkpoint-<id:020>.ckpt` = one [`exactly_core::framing`] frame, magic
//! `EXCK`, version 2, body = postcard of [`Checkpoint`]. Version 1 files (older builds:
//! `magic "EXCK" | u32 version 1 | u32 crc32c(body) | body`, the same body) are still read
//! through an explicit legacy path. The version is read before anything else: a file of
//! any other version is refused as [`CheckpointError::UnsupportedVersion`], never skipped
//! as damaged (restoring an older checkpoint instead could apply input twice).
//!
//! [`CheckpointStore`] is the embedded implementation of
//! [`crate::CheckpointStorage`] (see `checkpoint_storage.rs`).

use exactly_core::framing::{self, FrameError, FrameKind};
use exactly_core::storage::{read_file, write_file_atomically};
use exactly_core::{Storage, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const MAGIC: [u8; 4] = *b"EXCK";
/// The version written and read through the core framing.
const VERSION: u32 = 2;
/// The version of older builds' files (own header, CRC over the body only).
const LEGACY_VERSION: u32 = 1;
const KIND: FrameKind = FrameKind {
    magic: MAGIC,
    version: VERSION,
    body_bytes_max: u32::MAX,
};

/// A consistent cut: where every source stood, every task's state, and the checkpoint clock.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Strictly increasing id.
    pub id: u64,
    /// The least timestamp any message after the cut may carry.
    pub clock: Timestamp,
    /// Source positions, by source name (e.g. `topic/partition` → next offset).
    pub positions: BTreeMap<String, u64>,
    /// Task state snapshots, by task name.
    pub states: BTreeMap<String, Vec<u8>>,
    /// Free-form metadata (job name, parallelism, …).
    pub metadata: BTreeMap<String, String>,
}

/// Why a checkpoint could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// Storage failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// File or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Ids must increase.
    #[error("checkpoint id {id} is not newer than {latest}")]
    NotNewer {
        /// The refused id.
        id: u64,
        /// The newest stored id.
        latest: u64,
    },
    /// The checkpoint could not be encoded; nothing was written.
    #[error("checkpoint {id} does not encode: {reason}")]
    Encode {
        /// The checkpoint id.
        id: u64,
        /// What failed.
        reason: String,
    },
    /// A checkpoint file was written by another version of the format: it is not damaged,
    /// and it is not skipped either (restoring an older one instead could apply input
    /// twice).
    #[error("checkpoint {path} has format version {found}; this build reads version {supported}")]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version in the file.
        found: u32,
        /// The version this build reads and writes.
        supported: u32,
    },
    /// A checkpoint file is damaged.
    #[error("checkpoint {path} is damaged: {reason}")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A stored checkpoint record (not a file: a database row) is damaged — its checksum
    /// does not match, or its body does not decode.
    #[error("checkpoint {id} in {location} is damaged: {reason}")]
    DamagedRecord {
        /// Where the checkpoint is stored (store and job).
        location: String,
        /// The checkpoint id.
        id: u64,
        /// What is wrong.
        reason: String,
    },
    /// A writer whose epoch is lower than the one stored for the job: a newer writer took
    /// the job over, and this one must stop (its checkpoint was not written).
    #[error("job {job:?}: writer epoch {epoch} is fenced by epoch {stored_epoch} in {location}")]
    Fenced {
        /// Where the checkpoints are stored.
        location: String,
        /// The job.
        job: String,
        /// This writer's epoch.
        epoch: u64,
        /// The epoch stored for the job.
        stored_epoch: u64,
    },
    /// A large state blob a checkpoint points to is damaged (its bytes do not hash to
    /// its digest, or its length or chunks are wrong) or missing: the checkpoint cannot be
    /// restored, and it is not skipped silently.
    #[error("checkpoint blob {digest} in {location} cannot be restored: {reason}")]
    BlobDamaged {
        /// Where the blob is stored.
        location: String,
        /// The blob's digest (hex).
        digest: String,
        /// What is wrong.
        reason: String,
    },
    /// The writer's lease on the job's task does not allow the commit: the task was taken
    /// over at a newer epoch, released, or its lease expired (a distributed job's worker
    /// that must stop). Nothing was written.
    #[error("job {job:?}: the commit of checkpoint {id} in {location} is refused by the lease: {reason}")]
    NotLeased {
        /// Where the checkpoints are stored.
        location: String,
        /// The job.
        job: String,
        /// The checkpoint refused.
        id: u64,
        /// The lease's refusal.
        reason: String,
    },
    /// The checkpoint backend (a database, a server) failed or could not be reached, after
    /// the retries its reconnect policy allows.
    #[error("checkpoint store {location}: {reason}")]
    Backend {
        /// Where the checkpoints are stored.
        location: String,
        /// What failed, with the server's diagnosis when it sent one.
        reason: String,
    },
}

/// The body of a version 1 file: `magic | u32 version | u32 crc32c(body) | body`.
fn legacy_body(bytes: &[u8]) -> Result<&[u8], &'static str> {
    let rest = bytes.get(8..).ok_or("too short")?;
    let (crc, body) = rest.split_at_checked(4).ok_or("too short")?;
    if crc != crc32c::crc32c(body).to_le_bytes() {
        return Err("checksum mismatch");
    }
    Ok(body)
}

/// Checkpoints of one job in one directory.
#[derive(Debug)]
pub struct CheckpointStore {
    storage: Arc<dyn Storage>,
    dir: PathBuf,
    keep: usize,
}

fn file_name(id: u64) -> String {
    format!("checkpoint-{id:020}.ckpt")
}

fn parse_id(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("checkpoint-")?.strip_suffix(".ckpt")?;
    (digits.len() == 20).then(|| digits.parse().ok()).flatten()
}

/// What [`CheckpointStore::latest`] found.
#[derive(Debug)]
pub struct Restored {
    /// The newest checkpoint that checks out, if any.
    pub checkpoint: Option<Checkpoint>,
    /// Newer files that were damaged and skipped.
    pub skipped: Vec<CheckpointError>,
}

impl CheckpointStore {
    /// A store in `dir` keeping the newest `keep` (≥ 1) checkpoints.
    pub fn open(
        storage: Arc<dyn Storage>,
        dir: impl AsRef<Path>,
        keep: usize,
    ) -> Result<Self, CheckpointError> {
        let dir = dir.as_ref().to_path_buf();
        storage
            .create_dir_all(&dir)
            .map_err(|source| CheckpointError::Io {
                path: dir.clone(),
                source,
            })?;
        Ok(Self {
            storage,
            dir,
            keep: keep.max(1),
        })
    }

    /// Ids of the checkpoint files in the store, damaged or not, oldest first.
    pub fn ids(&self) -> Result<Vec<u64>, CheckpointError> {
        let names = self
            .storage
            .list_dir(&self.dir)
            .map_err(|source| CheckpointError::Io {
                path: self.dir.clone(),
                source,
            })?;
        let mut ids: Vec<u64> = names.iter().filter_map(|n| parse_id(n)).collect();
        ids.sort_unstable();
        Ok(ids)
    }

    /// Writes `checkpoint` durably; when this returns `Ok`, a crash restores it.
    pub fn write(&self, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
        if let Some(latest) = self.ids()?.last().copied().filter(|l| *l >= checkpoint.id) {
            return Err(CheckpointError::NotNewer {
                id: checkpoint.id,
                latest,
            });
        }
        let body = postcard::to_allocvec(checkpoint).map_err(|e| CheckpointError::Encode {
            id: checkpoint.id,
            reason: e.to_string(),
        })?;
        let bytes = framing::encode(&KIND, &body).map_err(|e| CheckpointError::Encode {
            id: checkpoint.id,
            reason: e.to_string(),
        })?;
        let path = self.dir.join(file_name(checkpoint.id));
        write_file_atomically(self.storage.as_ref(), &path, &bytes).map_err(|source| {
            tracing::warn!(path = %path.display(), error = %source, "writing a checkpoint failed");
            CheckpointError::Io { path, source }
        })?;
        self.prune();
        Ok(())
    }

    /// The highest checkpoint id with a file in the store, damaged or not: a new
    /// checkpoint must be numbered above it.
    pub fn newest_id_on_disk(&self) -> Result<Option<u64>, CheckpointError> {
        Ok(self.ids()?.last().copied())
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Deletes all but the newest `keep` checkpoints. Failures leave extra files only.
    fn prune(&self) {
        if let Err(e) = self.prune_to(self.keep) {
            tracing::warn!(path = %self.dir.display(), error = %e, "pruning checkpoints failed");
        }
    }

    /// Deletes all but the newest `keep` (≥ 1) checkpoint files and syncs the directory;
    /// returns how many it deleted. A file that cannot be deleted is logged and left (an
    /// extra checkpoint is harmless); listing or syncing the directory failing is an error.
    pub fn prune_to(&self, keep: usize) -> Result<usize, CheckpointError> {
        let ids = self.ids()?;
        let excess = ids.len().saturating_sub(keep.max(1));
        let mut deleted = 0;
        for id in ids.into_iter().take(excess) {
            let path = self.dir.join(file_name(id));
            match self.storage.remove_file(&path) {
                Ok(()) => deleted += 1,
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "pruning a checkpoint failed")
                }
            }
        }
        self.storage
            .sync_dir(&self.dir)
            .map_err(|source| CheckpointError::Io {
                path: self.dir.clone(),
                source,
            })?;
        Ok(deleted)
    }

    /// Reads checkpoint `id`.
    pub fn load(&self, id: u64) -> Result<Checkpoint, CheckpointError> {
        let path = self.dir.join(file_name(id));
        let bytes = read_file(self.storage.as_ref(), &path).map_err(|source| {
            tracing::warn!(path = %path.display(), error = %source, "reading a checkpoint failed");
            CheckpointError::Io {
                path: path.clone(),
                source,
            }
        })?;
        let damaged = |reason: &str| CheckpointError::Damaged {
            path: path.clone(),
            reason: reason.to_string(),
        };
        let body = match framing::peek_version(MAGIC, &bytes) {
            Err(FrameError::BadMagic { .. }) => return Err(damaged("bad magic")),
            Err(_) => return Err(damaged("too short")),
            Ok(LEGACY_VERSION) => legacy_body(&bytes).map_err(damaged)?,
            Ok(VERSION) => {
                framing::decode_whole(&KIND, &bytes).map_err(|e| damaged(&e.to_string()))?
            }
            Ok(found) => {
                return Err(CheckpointError::UnsupportedVersion {
                    path,
                    found,
                    supported: VERSION,
                })
            }
        };
        let checkpoint: Checkpoint =
            postcard::from_bytes(body).map_err(|e| damaged(&e.to_string()))?;
        if checkpoint.id != id {
            return Err(damaged("id does not match the file name"));
        }
        Ok(checkpoint)
    }

    /// The newest checkpoint that checks out. Damaged newer files are skipped and reported,
    /// never silently: the caller decides whether restoring an older cut is acceptable.
    pub fn latest(&self) -> Result<Restored, CheckpointError> {
        let mut skipped = Vec::new();
        for id in self.ids()?.into_iter().rev() {
            match self.load(id) {
                Ok(checkpoint) => {
                    return Ok(Restored {
                        checkpoint: Some(checkpoint),
                        skipped,
                    })
                }
                Err(error @ CheckpointError::Damaged { .. }) => skipped.push(error),
                Err(other) => return Err(other),
            }
        }
        Ok(Restored {
            checkpoint: None,
            skipped,
        })
    }
}
