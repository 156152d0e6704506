//! An append-only file of CRC32C-checked records over [`Storage`]: the durable memory of the
//! persistent pipe ends.
//!
//! ```text
//! record: len u32 LE | crc32c u32 LE (over body) | body (len bytes)
//! ```
//!
//! Appends are buffered and written by [`Journal::commit`], which also fsyncs; only
//! committed records survive a crash. Recovery reads records from the start and stops at the
//! first one that is incomplete or fails its checksum. If that record is the last thing in
//! the file (or is followed by bytes that are not a valid record) it is a torn tail from a
//! crash and is truncated; if a valid record follows it, the damage is *before* the tail and
//! recovery fails with [`JournalError::Corrupt`] rather than skip acknowledged data.

use exactly_core::storage::{self, OpenMode, Storage, StorageFile};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use thiserror::Error;

/// Bytes before a record's body.
const RECORD_HEADER_BYTES: usize = 8;
/// Largest record body accepted on append and on recovery.
pub const RECORD_BYTES_MAX: usize = 16 * 1024 * 1024;

/// Why a journal operation failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum JournalError {
    /// The storage failed. After a failed sync the journal must not be used again.
    #[error("journal {path}: {source}")]
    Io {
        /// The journal file.
        path: PathBuf,
        /// The storage error.
        #[source]
        source: std::io::Error,
    },
    /// A damaged record before the tail.
    #[error("journal {path}: corrupt record at byte {offset} followed by valid records")]
    Corrupt {
        /// The journal file.
        path: PathBuf,
        /// Where the damaged record starts.
        offset: u64,
    },
    /// A record body that is empty or above [`RECORD_BYTES_MAX`].
    #[error("journal record of {len} bytes is empty or exceeds {RECORD_BYTES_MAX}")]
    RecordTooLarge {
        /// The body length.
        len: usize,
    },
}

/// An open journal. See the module docs.
#[derive(Debug)]
pub struct Journal {
    storage: Arc<dyn Storage>,
    path: PathBuf,
    file: Arc<dyn StorageFile>,
    len_bytes: u64,
    pending: Vec<u8>,
}

/// Parses the record at `at`; `None` if it is incomplete or fails its checksum.
fn parse_record(bytes: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let head = bytes.get(at..at.checked_add(RECORD_HEADER_BYTES)?)?;
    let len = u32::from_le_bytes(head.get(..4)?.try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(head.get(4..8)?.try_into().ok()?);
    // Empty bodies are never written, so a run of zeros (a file extended before its data
    // was written) cannot pass for records with an empty body and a zero CRC.
    if len == 0 || len > RECORD_BYTES_MAX {
        return None;
    }
    let start = at + RECORD_HEADER_BYTES;
    let body = bytes.get(start..start.checked_add(len)?)?;
    (crc32c::crc32c(body) == crc).then_some((body, start + len))
}

/// Whether the damage at `at` is followed by a valid record (so it is not a torn tail).
fn valid_record_follows(bytes: &[u8], at: usize) -> bool {
    let Some(head) = bytes.get(at..at + RECORD_HEADER_BYTES) else {
        return false;
    };
    let Some(len) = head.get(..4).and_then(|b| b.try_into().ok()) else {
        return false;
    };
    let len = u32::from_le_bytes(len) as usize;
    let next = at + RECORD_HEADER_BYTES + len;
    len > 0 && len <= RECORD_BYTES_MAX && next < bytes.len() && parse_record(bytes, next).is_some()
}

impl Journal {
    /// Opens (creating if missing) the journal at `path` and feeds every intact record body
    /// to `visit`, in order. A torn tail is truncated durably before returning.
    pub fn open(
        storage: Arc<dyn Storage>,
        path: &Path,
        mut visit: impl FnMut(&[u8]),
    ) -> Result<Journal, JournalError> {
        let io = |source| JournalError::Io {
            path: path.to_owned(),
            source,
        };
        let existed = storage.exists(path).map_err(io)?;
        let file = storage.open(path, OpenMode::CreateOrOpen).map_err(io)?;
        if !existed {
            if let Some(dir) = path.parent() {
                storage.sync_dir(dir).map_err(io)?;
            }
        }
        let bytes = storage::read_file(storage.as_ref(), path).map_err(io)?;
        let mut at = 0;
        while at < bytes.len() {
            match parse_record(&bytes, at) {
                Some((body, next)) => {
                    visit(body);
                    at = next;
                }
                None if valid_record_follows(&bytes, at) => {
                    return Err(JournalError::Corrupt {
                        path: path.to_owned(),
                        offset: at as u64,
                    })
                }
                None => break,
            }
        }
        if at < bytes.len() {
            file.set_len(at as u64).map_err(io)?;
            file.sync_data().map_err(io)?;
        }
        Ok(Journal {
            storage,
            path: path.to_owned(),
            file,
            len_bytes: at as u64,
            pending: Vec::new(),
        })
    }

    /// Buffers a record; it is written and made durable by [`Journal::commit`].
    pub fn append(&mut self, body: &[u8]) -> Result<(), JournalError> {
        if body.is_empty() || body.len() > RECORD_BYTES_MAX {
            return Err(JournalError::RecordTooLarge { len: body.len() });
        }
        let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
        self.pending.extend_from_slice(&len.to_le_bytes());
        self.pending
            .extend_from_slice(&crc32c::crc32c(body).to_le_bytes());
        self.pending.extend_from_slice(body);
        Ok(())
    }

    /// Whether appended records await [`Journal::commit`].
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Writes the buffered records and fsyncs. After `Ok` they survive a crash.
    pub fn commit(&mut self) -> Result<(), JournalError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let io = |source| JournalError::Io {
            path: self.path.clone(),
            source,
        };
        self.file
            .write_at(self.len_bytes, &self.pending)
            .map_err(io)?;
        self.file.sync_data().map_err(io)?;
        self.len_bytes += self.pending.len() as u64;
        self.pending.clear();
        Ok(())
    }

    /// Committed bytes.
    pub fn len_bytes(&self) -> u64 {
        self.len_bytes
    }

    /// Atomically replaces the whole journal with `bodies` (compaction): temp file, fsync,
    /// rename, fsync directory. Pending appends are discarded.
    pub fn rewrite<'a>(
        &mut self,
        bodies: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<(), JournalError> {
        self.pending.clear();
        for body in bodies {
            self.append(body)?;
        }
        let content = std::mem::take(&mut self.pending);
        let io = |source| JournalError::Io {
            path: self.path.clone(),
            source,
        };
        storage::write_file_atomically(self.storage.as_ref(), &self.path, &content).map_err(io)?;
        self.file = self
            .storage
            .open(&self.path, OpenMode::Existing)
            .map_err(io)?;
        self.len_bytes = content.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use exactly_core::{SimStorage, TearMode};

    fn reopen(storage: &SimStorage, path: &Path) -> Result<Vec<Vec<u8>>, JournalError> {
        let mut seen = Vec::new();
        Journal::open(Arc::new(storage.clone()), path, |b| seen.push(b.to_vec()))?;
        Ok(seen)
    }

    #[test]
    fn committed_records_survive_and_torn_tails_are_cut() {
        let storage = SimStorage::new(7);
        storage.create_dir_all(Path::new("/d")).unwrap();
        let path = Path::new("/d/j");
        for tear in [
            TearMode::KeepPrefix,
            TearMode::PrefixThenGarbage,
            TearMode::PrefixThenZeros,
        ] {
            let mut j = Journal::open(Arc::new(storage.clone()), path, |_| {}).unwrap();
            j.rewrite([&b"a"[..], b"bb"]).unwrap();
            j.append(b"ccc").unwrap();
            j.commit().unwrap();
            j.append(b"never synced").unwrap();
            j.append(b"neither").unwrap();
            let pending = std::mem::take(&mut j.pending);
            j.file.write_at(j.len_bytes, &pending).unwrap(); // written, not synced
            storage.crash(tear);
            let seen = reopen(&storage, path).unwrap();
            assert_eq!(seen[..3], [b"a".to_vec(), b"bb".to_vec(), b"ccc".to_vec()]);
            assert!(seen.len() <= 5);
        }
    }

    #[test]
    fn damage_before_the_tail_is_an_error() {
        let storage = SimStorage::new(1);
        storage.create_dir_all(Path::new("/d")).unwrap();
        let path = Path::new("/d/j");
        let mut j = Journal::open(Arc::new(storage.clone()), path, |_| {}).unwrap();
        j.append(b"first").unwrap();
        j.append(b"second").unwrap();
        j.commit().unwrap();
        let mut bytes = storage.live_bytes(path).unwrap();
        bytes[9] ^= 0xff; // inside the first record's body
        storage.overwrite_bytes(path, bytes).unwrap();
        assert!(matches!(
            reopen(&storage, path),
            Err(JournalError::Corrupt { offset: 0, .. })
        ));
    }
}
