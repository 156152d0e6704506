//! Ownership of a pipe end's state directory on the real file system: one process at a time
//! (an exclusive `flock` on `<dir>/LOCK`, as the log does), and a check that the directory
//! is still the one that was opened before anything more is confirmed.
//!
//! Two processes on one state directory would each confirm messages the other's recovery
//! may cut or never see; a receiver whose directory was deleted under it would keep
//! confirming messages that exist only in an unlinked file. Both lose confirmed data, so
//! the first is refused at open and the second stops the end.

use exactly_core::storage::{lock_directory, LOCK_FILE};
use std::fs::File;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why a state directory cannot be (or stay) owned.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StateDirError {
    /// Another process holds the directory's lock.
    #[error(
        "state directory {dir} is in use by another process (it holds {dir}/{LOCK_FILE}); \
         stop it first, or use another --state directory"
    )]
    Locked {
        /// The state directory.
        dir: PathBuf,
    },
    /// The lock file could not be created or locked.
    #[error("locking state directory {dir}")]
    Io {
        /// The state directory.
        dir: PathBuf,
        /// The file-system error.
        #[source]
        source: std::io::Error,
    },
    /// The directory (or its lock file) was deleted, moved or replaced while in use.
    #[error(
        "state directory {dir} was deleted or replaced while in use: stopping before \
         confirming anything more (what it had made durable is gone with it)"
    )]
    Gone {
        /// The state directory.
        dir: PathBuf,
    },
}

/// An exclusive lock on a state directory, held while this value lives (and released by
/// the kernel however the process ends).
#[derive(Debug)]
pub struct StateDirLock {
    dir: PathBuf,
    file: File,
}

impl StateDirLock {
    /// Creates `dir` if needed and locks it; [`StateDirError::Locked`] if another process
    /// holds it.
    pub fn acquire(dir: &Path) -> Result<StateDirLock, StateDirError> {
        let io = |source| StateDirError::Io {
            dir: dir.to_owned(),
            source,
        };
        match lock_directory(dir).map_err(io)? {
            Some(file) => Ok(StateDirLock {
                dir: dir.to_owned(),
                file,
            }),
            None => Err(StateDirError::Locked {
                dir: dir.to_owned(),
            }),
        }
    }

    /// The locked directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// [`StateDirError::Gone`] unless `<dir>/LOCK` still names the very file this lock
    /// holds (so the directory was neither deleted nor replaced). One `fstat` and one
    /// `stat`.
    pub fn check_present(&self) -> Result<(), StateDirError> {
        let gone = || StateDirError::Gone {
            dir: self.dir.clone(),
        };
        let held = self.file.metadata().map_err(|_| gone())?;
        let named = std::fs::metadata(self.dir.join(LOCK_FILE)).map_err(|_| gone())?;
        if same_file(&held, &named) {
            Ok(())
        } else {
            Err(gone())
        }
    }
}

#[cfg(unix)]
fn same_file(held: &std::fs::Metadata, named: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    held.nlink() > 0 && held.dev() == named.dev() && held.ino() == named.ino()
}

#[cfg(not(unix))]
fn same_file(_held: &std::fs::Metadata, _named: &std::fs::Metadata) -> bool {
    // Without inode numbers, the successful `stat` of the path is all that can be checked.
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_is_refused_and_deletion_is_noticed() {
        let temp = std::env::temp_dir().join(format!("exactly-pipe-lock-{}", std::process::id()));
        let lock = StateDirLock::acquire(&temp).unwrap();
        // flock is per open file description: a second acquire in the same process conflicts.
        assert!(matches!(
            StateDirLock::acquire(&temp),
            Err(StateDirError::Locked { .. })
        ));
        lock.check_present().unwrap();
        std::fs::remove_dir_all(&temp).unwrap();
        assert!(matches!(
            lock.check_present(),
            Err(StateDirError::Gone { .. })
        ));
    }
}
