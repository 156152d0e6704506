//! [`CheckpointStorage`]: where a job's checkpoints live, as a trait — the seam between
//! the engine's checkpoint protocol and the place that makes a checkpoint durable.
//!
//! The durable write of a checkpoint is the **commit point** of the engine's checkpoint
//! protocol (sink transactions are committed only after it returns). Two implementations:
//! [`CheckpointStore`], files on a [`exactly_core::Storage`] (the embedded default: temp →
//! fsync → rename → fsync dir, the rename is the commit point), and the PostgreSQL store of
//! `exactly-postgres` (one database transaction per checkpoint, fenced by an epoch).

use crate::checkpoint::{Checkpoint, CheckpointError, CheckpointStore, Restored};

/// Durable storage of one job's checkpoints.
///
/// Contract every implementation keeps (the engine's recovery relies on it):
/// - [`write`](Self::write) returning `Ok` means a crash of this process, of the machine or
///   of the backend's connection restores that checkpoint (or a newer one); returning
///   `Err` means it may or may not be stored — the engine then fails the run, and the
///   next recovery finds either the old or the new checkpoint, never a part of one.
/// - ids strictly increase: writing an id not above the newest stored one is
///   [`CheckpointError::NotNewer`];
/// - [`latest`](Self::latest) never restores an older checkpoint in silence: damaged
///   newer ones are listed in [`Restored::skipped`], and the caller decides.
pub trait CheckpointStorage: Send + Sync + std::fmt::Debug {
    /// Writes `checkpoint` durably — the commit point — then prunes older checkpoints to
    /// the store's retention (a failed prune leaves extra checkpoints only).
    fn write(&self, checkpoint: &Checkpoint) -> Result<(), CheckpointError>;

    /// Reads checkpoint `id`, checking its checksums.
    fn load(&self, id: u64) -> Result<Checkpoint, CheckpointError>;

    /// The newest checkpoint that checks out; damaged newer ones are reported.
    fn latest(&self) -> Result<Restored, CheckpointError>;

    /// Ids of every stored checkpoint, damaged or not, oldest first: a new checkpoint must
    /// be numbered above the last.
    fn ids(&self) -> Result<Vec<u64>, CheckpointError>;

    /// Deletes all but the newest `keep` (≥ 1) checkpoints; returns how many it deleted.
    fn prune(&self, keep: usize) -> Result<usize, CheckpointError>;

    /// Where the checkpoints are, for messages (a directory, a database and job).
    fn location(&self) -> String;

    /// The highest stored id, damaged or not.
    fn newest_id(&self) -> Result<Option<u64>, CheckpointError> {
        Ok(self.ids()?.last().copied())
    }
}

impl CheckpointStorage for CheckpointStore {
    fn write(&self, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
        CheckpointStore::write(self, checkpoint)
    }

    fn load(&self, id: u64) -> Result<Checkpoint, CheckpointError> {
        CheckpointStore::load(self, id)
    }

    fn latest(&self) -> Result<Restored, CheckpointError> {
        CheckpointStore::latest(self)
    }

    fn ids(&self) -> Result<Vec<u64>, CheckpointError> {
        CheckpointStore::ids(self)
    }

    fn prune(&self, keep: usize) -> Result<usize, CheckpointError> {
        CheckpointStore::prune_to(self, keep)
    }

    fn location(&self) -> String {
        self.dir().display().to_string()
    }
}
