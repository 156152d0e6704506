//! The constructors of [`Log`]: open the partitions (in `log`), then, for a handle that
//! writes `__transactions`, complete what a crash left of transactions (in `txn`). Kept
//! apart so the log itself never depends on the transaction layer.

use crate::config::LogConfig;
use crate::error::OpenError;
use crate::log::{lock_dir, Log, Opening};
use crate::partition::Mode;
use crate::scope::{lock_scope, WriteScope};
use exactly_core::{Clock, StdStorage, Storage, SystemClock};
use std::path::Path;
use std::sync::Arc;

impl Log {
    /// Opens (creating if needed) the log in `dir` on the real file system.
    ///
    /// Takes an exclusive lock on `dir/LOCK`: a second process opening the same directory
    /// gets [`OpenError::Locked`] instead of racing recovery against live appends.
    pub fn open(dir: impl AsRef<Path>, config: LogConfig) -> Result<Self, OpenError> {
        let dir = dir.as_ref();
        let lock = lock_dir(dir)?;
        let opening = Opening::whole(Arc::new(StdStorage), Mode::ReadWrite);
        let mut log = Self::open_in_mode(opening, Arc::new(SystemClock), dir, config)?;
        log.hold_locks(Some(lock), None);
        recover(log)
    }

    /// Opens the log in `dir` (creating it if needed) as the writer of the topics in `scope`
    /// only: it appends to, creates, recovers and reconciles those, and follows every other
    /// topic read-only (as [`Log::open_read_only`] does), so other processes can write them
    /// at the same time.
    ///
    /// Takes `dir/LOCK` shared (a whole-log writer, [`Log::open`], excludes and is excluded
    /// by every scoped writer) and each owned topic's lock exclusively: a topic another
    /// process owns gives [`OpenError::TopicLocked`] naming it. Transactions need
    /// [`WriteScope::with_transactions`]; a decided transaction whose markers go to topics
    /// outside the scope stays pending ([`Log::pending_markers`]) until a process owning
    /// them opens the log. Topics other processes create after this call are not seen.
    pub fn open_scoped(
        dir: impl AsRef<Path>,
        config: LogConfig,
        scope: WriteScope,
    ) -> Result<Self, OpenError> {
        let dir = dir.as_ref();
        let locks = lock_scope(dir, &scope)?;
        let storage: Arc<dyn Storage> = Arc::new(StdStorage);
        let follow: Arc<dyn Storage> = Arc::new(crate::ReadOnlyStorage);
        let opening = Opening {
            storage,
            follow_storage: follow,
            mode: Mode::ReadWrite,
            scope: Some(scope),
        };
        let mut log = Self::open_in_mode(opening, Arc::new(SystemClock), dir, config)?;
        log.hold_locks(None, Some(locks));
        recover(log)
    }

    /// Opens a log that another process owns, to follow it: no lock, no recovery, no
    /// writes. Readers see what the owner has written so far — including records it has
    /// not synced yet, which a crash of the owner's machine could still take back — and
    /// new records and segments as they appear. Topics created after this call are not seen.
    ///
    /// Files are opened read-only ([`crate::ReadOnlyStorage`]): it works on a read-only
    /// mount and never creates, truncates or rewrites a file.
    pub fn open_read_only(dir: impl AsRef<Path>, config: LogConfig) -> Result<Self, OpenError> {
        let storage: Arc<dyn Storage> = Arc::new(crate::ReadOnlyStorage);
        let opening = Opening::whole(storage, Mode::ReadOnly);
        Self::open_in_mode(opening, Arc::new(SystemClock), dir, config)
    }

    /// Opens the log on the given storage and clock (simulation, tests).
    pub fn open_with(
        storage: Arc<dyn Storage>,
        clock: Arc<dyn Clock>,
        dir: impl AsRef<Path>,
        config: LogConfig,
    ) -> Result<Self, OpenError> {
        let log = Self::open_in_mode(Opening::whole(storage, Mode::ReadWrite), clock, dir, config)?;
        recover(log)
    }
}

/// Runs the transaction coordinator's recovery. Without `__transactions` in its scope a
/// process cannot record a decision, so it leaves recovery to the process that owns it.
fn recover(log: Log) -> Result<Log, OpenError> {
    log.recover_transactions()
        .map_err(|e| OpenError::Transactions {
            reason: e.to_string(),
        })?;
    Ok(log)
}
