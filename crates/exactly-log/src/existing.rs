//! Opening a log directory that must already exist, as the `exactly log` commands other
//! than `create` do: a missing directory is refused (instead of an empty log being
//! created in it), and the error names the directory. And [`create_topic_in`], what
//! `exactly log create` does: a topic created in a log other processes may be writing.

use crate::config::LogConfig;
use crate::error::{MaintenanceError, OpenError, TopicError};
use crate::log::Log;
use crate::scope::WriteScope;
use std::path::{Path, PathBuf};

/// Why an existing log could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenExistingError {
    /// There is no such directory.
    #[error("log directory {} does not exist (create a topic first)", .0.display())]
    Missing(PathBuf),
    /// The directory is there; opening the log in it failed.
    #[error("opening log {}{}", .dir.display(), if *.read_only { " for reading" } else { "" })]
    Open {
        /// The log directory.
        dir: PathBuf,
        /// Whether it was opened for reading only.
        read_only: bool,
        /// Why.
        #[source]
        source: OpenError,
    },
}

fn check(dir: &Path) -> Result<(), OpenExistingError> {
    match dir.is_dir() {
        true => Ok(()),
        false => Err(OpenExistingError::Missing(dir.to_path_buf())),
    }
}

fn opening(dir: &Path, read_only: bool) -> impl FnOnce(OpenError) -> OpenExistingError + '_ {
    move |source| OpenExistingError::Open {
        dir: dir.to_path_buf(),
        read_only,
        source,
    }
}

/// [`Log::open`] of an existing log directory.
pub fn open_existing(dir: &Path, config: LogConfig) -> Result<Log, OpenExistingError> {
    check(dir)?;
    Log::open(dir, config).map_err(opening(dir, false))
}

/// [`Log::open_scoped`] of an existing log directory: the writer of the topics in
/// `scope` only.
pub fn open_existing_scoped(
    dir: &Path,
    config: LogConfig,
    scope: WriteScope,
) -> Result<Log, OpenExistingError> {
    check(dir)?;
    Log::open_scoped(dir, config, scope).map_err(opening(dir, false))
}

/// [`Log::open_read_only`] of an existing log directory (default configuration): a
/// follower that takes no lock, so it can read a log another process appends to.
pub fn open_existing_read_only(dir: &Path) -> Result<Log, OpenExistingError> {
    check(dir)?;
    Log::open_read_only(dir, LogConfig::default()).map_err(opening(dir, true))
}

/// Why [`create_topic_in`] failed.
#[derive(Debug, thiserror::Error)]
pub enum CreateTopicError {
    /// The log could not be opened.
    #[error("opening log {}", .dir.display())]
    Open {
        /// The log directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: OpenError,
    },
    /// The topic could not be created.
    #[error(transparent)]
    Topic(#[from] TopicError),
    /// The log could not be closed.
    #[error(transparent)]
    Close(#[from] MaintenanceError),
}

/// Creates `topic` with `partitions` in the log in `dir` (created if missing), owning
/// only that topic: a topic can be created while other processes write other topics.
pub fn create_topic_in(dir: &Path, topic: &str, partitions: u32) -> Result<(), CreateTopicError> {
    let scope = WriteScope::topics([topic]);
    let log = Log::open_scoped(dir, LogConfig::default(), scope).map_err(|source| {
        CreateTopicError::Open {
            dir: dir.to_path_buf(),
            source,
        }
    })?;
    log.create_topic(topic, partitions)?;
    log.close()?;
    Ok(())
}
