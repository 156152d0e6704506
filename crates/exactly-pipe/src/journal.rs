//! An append-only file of CRC32C-checked records over [`Storage`]: the durable memory of the
//! persistent pipe ends.
//!
//! ```text
//! record:      len u32 LE | crc32c u32 LE (over body) | body (len bytes)
//! durable end: the core's two-slot evidence, claim = durable bytes     (`<journal>.durable`)
//! ```
//!
//! Appends are buffered and written by [`Journal::commit`], which also fsyncs; only
//! committed records survive a crash. After each fsync the journal's length is written to
//! the *durable end* file beside it (a plain in-place slot write, fsynced every
//! [`DURABLE_END_SYNC_EVERY`] commits and when the journal is dropped): it is evidence of how
//! many bytes were durable — and so possibly confirmed to a peer — and it never claims more
//! than that, because it is written only after the fsync returned.
//!
//! Recovery is the core's journal rule ([`exactly_core::journal`]) over this record
//! format: records are read from the start up to the first one that is incomplete or fails
//! its checksum, and
//! - damage with a valid record starting anywhere after it is refused with
//!   [`JournalError::Corrupt`];
//! - damage *inside the durable end* is refused with [`JournalError::DamagedDurable`]:
//!   those bytes were fsynced, so this is not a torn write but lost confirmed data;
//! - anything else after the durable end is a torn tail from a crash and is truncated.
//!
//! A missing durable-end file, or an older build's damaged 12-byte one, counts as a durable
//! end of 0: recovery is then as strict as the record checksums allow and no stricter. A
//! two-slot file with both slots damaged is refused ([`JournalError::DurableEnd`]).

pub(crate) mod error;

use crate::durable_end::DurableEnd;
pub use crate::durable_end::DURABLE_END_SYNC_EVERY;
pub use error::{JournalError, RECORD_BYTES_MAX};
use exactly_core::journal::{self as rule, Damage, RecordFormat, RecoveryError};
use exactly_core::storage::{self, OpenMode, Storage, StorageFile};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Bytes before a record's body.
const RECORD_HEADER_BYTES: usize = 8;
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

/// The journal's record layout, for the core's recovery rule: a record is the byte range
/// of its body.
struct Records;

impl RecordFormat for Records {
    type Record = Range<usize>;

    fn decode_at(&self, bytes: &[u8], at: usize) -> Result<(usize, Range<usize>), Damage> {
        let head = at
            .checked_add(RECORD_HEADER_BYTES)
            .and_then(|end| bytes.get(at..end))
            .ok_or_else(|| Damage::from("incomplete record header".to_string()))?;
        let word = |i: usize| head.get(i..i + 4).and_then(|w| w.try_into().ok());
        let (Some(len), Some(crc)) = (word(0), word(4)) else {
            return Err(Damage::from("incomplete record header".to_string()));
        };
        let (len, crc) = (u32::from_le_bytes(len) as usize, u32::from_le_bytes(crc));
        // Empty bodies are never written, so a run of zeros (a file extended before its
        // data was written) cannot pass for records with an empty body and a zero CRC.
        if len == 0 || len > RECORD_BYTES_MAX {
            return Err(Damage::from(format!("record length {len} out of range")));
        }
        let start = at + RECORD_HEADER_BYTES;
        let body = bytes
            .get(start..start + len)
            .ok_or_else(|| Damage::from(format!("record of {len} bytes runs past the end")))?;
        if crc32c::crc32c(body) != crc {
            return Err(Damage::from("record checksum mismatch".to_string()));
        }
        Ok((RECORD_HEADER_BYTES + len, start..start + len))
    }

    fn may_start_at(&self, bytes: &[u8], at: usize) -> bool {
        let len = bytes
            .get(at..at + 4)
            .and_then(|w| w.try_into().ok())
            .map(u32::from_le_bytes);
        len.is_some_and(|len| {
            len > 0
                && len as usize <= RECORD_BYTES_MAX
                && at + RECORD_HEADER_BYTES + len as usize <= bytes.len()
        })
    }
}

/// Maps a storage failure on the journal at `path` to [`JournalError::Io`], logging it.
fn io_error(path: &Path) -> impl Fn(std::io::Error) -> JournalError + Copy + '_ {
    move |source| {
        tracing::warn!(path = %path.display(), error = %source, "journal I/O failed");
        JournalError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

impl Journal {
    /// Opens (creating if missing) the journal at `path` and feeds every intact record body
    /// to `visit`, in order. A torn tail is truncated durably before returning.
    pub fn open(
        storage: Arc<dyn Storage>,
        path: &Path,
        mut visit: impl FnMut(&[u8]),
    ) -> Result<Journal, JournalError> {
        let io = io_error(path);
        let existed = storage.exists(path).map_err(io)?;
        let file = storage.open(path, OpenMode::CreateOrOpen).map_err(io)?;
        if !existed {
            if let Some(dir) = path.parent() {
                storage.sync_dir(dir).map_err(io)?;
            }
        }
        let (mut durable_end, durable_bytes) = DurableEnd::open(storage.as_ref(), path)?;
        let bytes = storage::read_file(storage.as_ref(), path).map_err(io)?;
        let recovery = rule::recover(path, &bytes, &Records, durable_bytes, |body| {
            if let Some(body) = bytes.get(body) {
                visit(body);
            }
        })
        .map_err(|e| match e {
            RecoveryError::DamageBeforeValid { position, .. } => JournalError::Corrupt {
                path: path.to_owned(),
                offset: position,
            },
            RecoveryError::ShorterThanDurable { len_bytes, .. } => JournalError::Truncated {
                path: path.to_owned(),
                len_bytes,
                durable_bytes,
                durable_end: durable_end.path().to_owned(),
            },
            // `DamagedDurable` and any later refusal of the rule: damage that must not be cut.
            other => JournalError::DamagedDurable {
                path: path.to_owned(),
                offset: other.position(),
                durable_bytes,
                durable_end: durable_end.path().to_owned(),
            },
        })?;
        let at = recovery.valid_bytes;
        if let Some(torn) = &recovery.torn {
            tracing::info!(
                path = %path.display(),
                position = torn.position,
                bytes_removed = torn.bytes_removed,
                reason = %torn.reason,
                "cutting the torn tail of a journal"
            );
            file.set_len(at).map_err(io)?;
            file.sync_data().map_err(io)?;
        }
        if at != durable_bytes {
            durable_end.record(at)?;
        }
        Ok(Journal {
            storage,
            path: path.to_owned(),
            file,
            len_bytes: at,
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
        let io = io_error(&self.path);
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
        let io = io_error(&self.path);
        // The new file may be shorter than the recorded durable end: lower the record
        // durably first, or a crash after the rename would make the shorter file look
        // truncated. Until the new length is recorded, recovery is only as strict as the CRCs.
        self.durable_end.lower(self.storage.as_ref(), 0)?;
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
        // which recovery tolerates (the durable end may lag, never lead). The core logs it.
        if let Err(e) = self.durable_end.sync() {
            tracing::warn!(path = %self.path.display(), error = %e, "syncing the durable end at close failed");
        }
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
