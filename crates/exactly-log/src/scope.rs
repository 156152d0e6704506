//! Write scopes: which topics one process owns, and the locks that make ownership exclusive.
//!
//! A whole-log writer ([`crate::Log::open`]) holds `<dir>/LOCK` exclusively. A scoped writer
//! ([`crate::Log::open_scoped`]) holds `<dir>/LOCK` *shared* — so a whole-log writer still
//! excludes everybody and is excluded by anybody — plus an exclusive lock per owned topic,
//! `<dir>/.locks/<topic>.lock`. Lock files live in a dot directory (never a topic name), so
//! they can be taken before the topic exists and no partition listing ever meets them.
//! `flock` locks end with the process, however it dies: a killed writer never leaves a
//! stale lock behind.

use crate::error::OpenError;
use crate::topic::validate_topic_name;
use crate::txn::topics::{OFFSETS_TOPIC, TRANSACTIONS_TOPIC};
use std::collections::BTreeSet;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

/// Directory of the per-topic lock files inside a log directory.
pub const TOPIC_LOCKS_DIR: &str = ".locks";

/// The topics a process owns: it appends to, recovers, repairs and reconciles only these,
/// and follows every other topic read-only.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteScope {
    topics: BTreeSet<String>,
}

impl WriteScope {
    /// A scope owning exactly `topics`.
    pub fn topics<I, S>(topics: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            topics: topics.into_iter().map(Into::into).collect(),
        }
    }

    /// Also owns the transaction coordinator's topics (`__transactions`,
    /// `__consumer_offsets`): needed to run transactions or commit group positions.
    pub fn with_transactions(mut self) -> Self {
        self.topics.insert(TRANSACTIONS_TOPIC.to_string());
        self.topics.insert(OFFSETS_TOPIC.to_string());
        self
    }

    /// Whether the scope owns `topic`.
    pub fn owns(&self, topic: &str) -> bool {
        self.topics.contains(topic)
    }

    /// The owned topics, sorted.
    pub fn owned(&self) -> impl Iterator<Item = &str> {
        self.topics.iter().map(String::as_str)
    }
}

/// The locks a scoped writer holds for the life of its log handle.
#[derive(Debug)]
pub(crate) struct ScopeLocks {
    _dir: File,
    _topics: Vec<File>,
}

/// Takes `<dir>/LOCK` shared, then every owned topic's lock exclusively (in name order).
pub(crate) fn lock_scope(dir: &Path, scope: &WriteScope) -> Result<ScopeLocks, OpenError> {
    for topic in scope.owned() {
        validate_topic_name(topic).map_err(|e| OpenError::BadConfig(e.to_string()))?;
    }
    let dir_lock_path = dir.join(exactly_core::storage::LOCK_FILE);
    let locks_dir = dir.join(TOPIC_LOCKS_DIR);
    std::fs::create_dir_all(&locks_dir).map_err(|source| io_error(&locks_dir, source))?;
    let dir_file = open_lock_file(&dir_lock_path)?;
    match dir_file.try_lock_shared() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(OpenError::Locked {
                path: dir_lock_path,
            })
        }
        Err(TryLockError::Error(source)) => return Err(io_error(&dir_lock_path, source)),
    }
    let mut topics = Vec::new();
    for topic in scope.owned() {
        let path = topic_lock_path(dir, topic);
        let file = open_lock_file(&path)?;
        match file.try_lock() {
            Ok(()) => topics.push(file),
            Err(TryLockError::WouldBlock) => {
                return Err(OpenError::TopicLocked {
                    topic: topic.to_string(),
                    path,
                })
            }
            Err(TryLockError::Error(source)) => return Err(io_error(&path, source)),
        }
    }
    Ok(ScopeLocks {
        _dir: dir_file,
        _topics: topics,
    })
}

/// The lock file of `topic` in the log directory `dir`.
pub fn topic_lock_path(dir: &Path, topic: &str) -> PathBuf {
    dir.join(TOPIC_LOCKS_DIR).join(format!("{topic}.lock"))
}

fn open_lock_file(path: &Path) -> Result<File, OpenError> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|source| io_error(path, source))
}

/// The error for an I/O failure on a lock file or directory, logged where it happens.
fn io_error(path: &Path, source: std::io::Error) -> OpenError {
    tracing::warn!(path = %path.display(), error = %source, "taking a write-scope lock failed");
    OpenError::Io {
        path: path.to_path_buf(),
        source,
    }
}
