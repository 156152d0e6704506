//! An append-only file of CRC32C-checked records over [`Storage`]: the durable memory of the
//! persistent pipe ends.
//!
//! ```text
//! record:      len u32 LE | crc32c u32 LE (over body) | body (len bytes)
//! durable end: durable_bytes u64 LE | crc32c u32 LE (over the 8 bytes)   (`<journal>.durable`)
//! ```
//!
//! Appends are buffered and written by [`Journal::commit`], which also fsyncs; only
//! committed records survive a crash. After each fsync the journal's length is written to
//! the *durable end* file beside it (a plain 12-byte write, fsynced every
//! [`DURABLE_END_SYNC_EVERY`] commits and when the journal is dropped): it is evidence of how
//! many bytes were durable — and so possibly confirmed to a peer — and it never claims more
//! than that, because it is written only after the fsync returned.
//!
//! Recovery reads records from the start and stops at the first one that is incomplete or
//! fails its checksum:
//! - damage with a valid record following it is refused with [`JournalError::Corrupt`];
//! - damage *inside the durable end* is refused with [`JournalError::DamagedDurable`]:
//!   those bytes were fsynced, so this is not a torn write but lost confirmed data;
//! - anything else after the durable end is a torn tail from a crash and is truncated.
//!
//! A missing or damaged durable-end file (a crash mid-write of the file itself, a journal
//! written by an older version) counts as a durable end of 0: recovery is then as strict
//! as the record checksums allow and no stricter.

use crate::durable_end::DurableEnd;
pub use crate::durable_end::DURABLE_END_SYNC_EVERY;
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
    /// A damaged record inside the part of the journal that was fsynced (and so may have
    /// been confirmed to a peer): not a torn write, and cutting it would lose confirmed data.
    #[error(
        "journal {path}: damaged record at byte {offset}, inside the first {durable_bytes} bytes \
         that were fsynced and may have been confirmed (recorded in {durable_end}); refusing to \
         cut them — restore the file from a copy, or move the state directory aside to start \
         over knowingly"
    )]
    DamagedDurable {
        /// The journal file.
        path: PathBuf,
        /// Where the damaged record starts.
        offset: u64,
        /// Bytes recorded as durable.
        durable_bytes: u64,
        /// The file that recorded them.
        durable_end: PathBuf,
    },
    /// The journal is shorter than the bytes recorded as durable: fsynced records are gone.
    #[error(
        "journal {path}: {len_bytes} bytes long, but its first {durable_bytes} bytes were \
         fsynced and may have been confirmed (recorded in {durable_end}); refusing to open \
         without them"
    )]
    Truncated {
        /// The journal file.
        path: PathBuf,
        /// Its length.
        len_bytes: u64,
        /// Bytes recorded as durable.
        durable_bytes: u64,
        /// The file that recorded them.
        durable_end: PathBuf,
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
    durable_end: DurableEnd,
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
        let (mut durable_end, durable_bytes) = DurableEnd::open(storage.as_ref(), path)?;
        let bytes = storage::read_file(storage.as_ref(), path).map_err(io)?;
        if (bytes.len() as u64) < durable_bytes {
            return Err(JournalError::Truncated {
                path: path.to_owned(),
                len_bytes: bytes.len() as u64,
                durable_bytes,
                durable_end: durable_end.path().to_owned(),
            });
        }
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
                None if (at as u64) < durable_bytes => {
                    return Err(JournalError::DamagedDurable {
                        path: path.to_owned(),
                        offset: at as u64,
                        durable_bytes,
                        durable_end: durable_end.path().to_owned(),
                    })
                }
                None => break,
            }
        }
        if at < bytes.len() {
            file.set_len(at as u64).map_err(io)?;
            file.sync_data().map_err(io)?;
        }
        if at as u64 != durable_bytes {
            durable_end.record(at as u64)?;
        }
        Ok(Journal {
            storage,
            path: path.to_owned(),
            file,
            len_bytes: at as u64,
            pending: Vec::new(),
            durable_end,
        })
    }

    /// Buffers a record; it is written and made durable by [`Journal::commit`].
    pub fn append(&mut self, body: &[u8]) -> Result<(), JournalError> {
        if body.is_empty() || body.len() > RECORD_BYTES_MAX {
            return Err(JournalError::RecordTooLarge { len: body.len() });
        }
        // Checked above: body.len() <= RECORD_BYTES_MAX (16 MiB), which fits in u32.
        #[allow(clippy::expect_used)]
        let len = u32::try_from(body.len()).expect("RECORD_BYTES_MAX fits in u32");
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
        self.durable_end.record(self.len_bytes)?;
        Ok(())
    }

    /// Fsyncs the durable-end file (also done every [`DURABLE_END_SYNC_EVERY`] commits and,
    /// best effort, on drop). Call at a clean stop to make the evidence survive power loss.
    pub fn sync_durable_end(&mut self) -> Result<(), JournalError> {
        self.durable_end.sync()
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
        // The new file may be shorter than the recorded durable end: lower the record
        // durably first, or a crash after the rename would make the shorter file look
        // truncated. Until the new length is recorded, recovery is only as strict as the CRCs.
        self.durable_end.record_synced(0)?;
        storage::write_file_atomically(self.storage.as_ref(), &self.path, &content).map_err(io)?;
        self.file = self
            .storage
            .open(&self.path, OpenMode::Existing)
            .map_err(io)?;
        self.len_bytes = content.len() as u64;
        self.durable_end.record(self.len_bytes)?;
        Ok(())
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        // Best effort: a failure only leaves the evidence less fresh after a power loss,
        // which recovery tolerates (the durable end may lag, never lead).
        let _ = self.durable_end.sync();
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

    #[test]
    fn damage_in_the_last_durable_record_is_refused_not_cut() {
        let storage = SimStorage::new(3);
        storage.create_dir_all(Path::new("/d")).unwrap();
        let path = Path::new("/d/j");
        let mut j = Journal::open(Arc::new(storage.clone()), path, |_| {}).unwrap();
        j.append(b"first").unwrap();
        j.commit().unwrap();
        j.append(b"confirmed last").unwrap();
        j.commit().unwrap();
        drop(j); // clean stop
        let mut bytes = storage.live_bytes(path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01; // inside the last record's body
        storage.overwrite_bytes(path, bytes.clone()).unwrap();
        let err = reopen(&storage, path).unwrap_err();
        assert!(
            matches!(
                err,
                JournalError::DamagedDurable {
                    offset: 13,
                    durable_bytes: 35,
                    ..
                }
            ),
            "{err:?}"
        );
        // Nothing was cut: the file still holds every byte.
        assert_eq!(storage.live_bytes(path).unwrap(), bytes);
        // A journal shorter than its durable end is refused too.
        storage.overwrite_bytes(path, bytes[..20].to_vec()).unwrap();
        assert!(matches!(
            reopen(&storage, path),
            Err(JournalError::Truncated {
                len_bytes: 20,
                durable_bytes: 35,
                ..
            })
        ));
    }

    #[test]
    fn a_torn_tail_after_the_durable_end_still_recovers_after_compaction() {
        let storage = SimStorage::new(5);
        storage.create_dir_all(Path::new("/d")).unwrap();
        let path = Path::new("/d/j");
        let mut j = Journal::open(Arc::new(storage.clone()), path, |_| {}).unwrap();
        for _ in 0..3 {
            j.append(b"a long record that compaction drops").unwrap();
            j.commit().unwrap();
        }
        j.rewrite([&b"kept"[..]]).unwrap();
        j.append(b"unsynced").unwrap();
        let pending = std::mem::take(&mut j.pending);
        j.file.write_at(j.len_bytes, &pending[..5]).unwrap(); // torn, never synced
        storage.crash(TearMode::KeepPrefix);
        assert_eq!(reopen(&storage, path).unwrap(), vec![b"kept".to_vec()]);
    }
}
