//! The store's evidence of how much of its journal was durable: the file `durable-end`.
//!
//! Without it, recovery cannot tell a torn tail (a commit whose `fdatasync` never returned,
//! so it was never acknowledged, and cutting it is right) from a damaged last commit that
//! *was* acknowledged (cutting it loses a processed message, and its id is forgotten so a
//! redelivery runs the handler again). After every synced commit the store writes
//! `(generation, journal length)` here without a sync of its own: the claim is true when
//! written (the journal bytes below it are already durable), a `kill -9` cannot lose it
//! (the page cache keeps it), and it is fsynced every [`SYNC_EVERY_COMMITS`] commits, at
//! every compaction and at a clean close, so only an OS crash can take back the newest
//! claims — falling back to an older, still true one.
//!
//! Layout: two slots of [`SLOT_BYTES`] at byte 0 and byte 512 (different sectors), written
//! alternately, each `magic u32 | version u16 | 0 u16 | counter u64 | generation u64 |
//! length u64 | crc32c u32` (little endian; the CRC covers the 32 bytes before it). The
//! valid slot with the highest counter wins, so a torn in-place write damages only the
//! slot being written and the other still holds an older true claim. The file is created
//! whole (atomic write), so a file with no valid slot was damaged, never torn.

use crate::store::StoreError;
use exactly_core::storage::{read_file, write_file_atomically};
use exactly_core::{OpenMode, Storage, StorageFile};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// File name of the evidence in the store directory.
pub(super) const FILE_NAME: &str = "durable-end";
/// The evidence file is fsynced at least once every this many commits.
pub(super) const SYNC_EVERY_COMMITS: u64 = 64;
const MAGIC: u32 = 0x4445_4E44; // "DEND"
const VERSION: u16 = 1;
const SLOT_BYTES: usize = 36;
const SLOT_STRIDE_BYTES: u64 = 512;

/// What the evidence claims: the journal of `generation` held at least `length_bytes`
/// durable bytes of whole commits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Claim {
    /// Journal generation.
    pub generation: u64,
    /// Durable length of that journal in bytes.
    pub length_bytes: u64,
}

/// The open evidence file.
pub(super) struct DurableEnd {
    path: PathBuf,
    file: Arc<dyn StorageFile>,
    counter: u64,
    unsynced_commits: u64,
}

fn encode(counter: u64, claim: Claim) -> [u8; SLOT_BYTES] {
    let mut slot = [0u8; SLOT_BYTES];
    let mut body = Vec::with_capacity(SLOT_BYTES);
    body.extend_from_slice(&MAGIC.to_le_bytes());
    body.extend_from_slice(&VERSION.to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&counter.to_le_bytes());
    body.extend_from_slice(&claim.generation.to_le_bytes());
    body.extend_from_slice(&claim.length_bytes.to_le_bytes());
    body.extend_from_slice(&crc32c::crc32c(&body).to_le_bytes());
    slot.copy_from_slice(&body);
    slot
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// `(counter, claim)` of a whole, valid slot.
fn decode(bytes: &[u8]) -> Option<(u64, Claim)> {
    let slot = bytes.get(..SLOT_BYTES)?;
    let (body, crc) = slot.split_at(SLOT_BYTES - 4);
    if u32::from_le_bytes(crc.try_into().ok()?) != crc32c::crc32c(body) {
        return None;
    }
    let magic = u32::from_le_bytes(body.get(..4)?.try_into().ok()?);
    let version = u16::from_le_bytes(body.get(4..6)?.try_into().ok()?);
    if magic != MAGIC || version != VERSION {
        return None;
    }
    let claim = Claim {
        generation: u64_at(body, 16)?,
        length_bytes: u64_at(body, 24)?,
    };
    Some((u64_at(body, 8)?, claim))
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl DurableEnd {
    /// Reads the evidence in `dir`: `Ok(None)` when the file does not exist (a new store,
    /// or one written before the evidence existed), `Corrupt` when no slot is valid.
    pub(super) fn read(storage: &dyn Storage, dir: &Path) -> Result<Option<Claim>, StoreError> {
        Ok(Self::read_counter(storage, dir)?.map(|(_, claim)| claim))
    }

    fn read_counter(storage: &dyn Storage, dir: &Path) -> Result<Option<(u64, Claim)>, StoreError> {
        let path = dir.join(FILE_NAME);
        if !storage.exists(&path).map_err(io_error(&path))? {
            return Ok(None);
        }
        let bytes = read_file(storage, &path).map_err(io_error(&path))?;
        let slots = [0, SLOT_STRIDE_BYTES as usize].map(|at| bytes.get(at..).and_then(decode));
        match slots
            .into_iter()
            .flatten()
            .max_by_key(|(counter, _)| *counter)
        {
            Some(best) => Ok(Some(best)),
            None => Err(StoreError::Corrupt {
                path,
                position: 0,
                reason: "no valid slot in the durable-end evidence: the store cannot tell \
                         which commits were acknowledged (remove the file only if you \
                         accept that damage in the last commit goes unnoticed)"
                    .into(),
            }),
        }
    }

    /// Opens the evidence for writing, creating it (whole, atomically) with `claim` when
    /// it does not exist.
    pub(super) fn open(
        storage: &dyn Storage,
        dir: &Path,
        claim: Claim,
    ) -> Result<Self, StoreError> {
        let path = dir.join(FILE_NAME);
        let counter = match Self::read_counter(storage, dir)? {
            Some((counter, _)) => counter,
            None => {
                // Slot 0 holds the claim; slot 1 is zeros (invalid) until first written.
                let mut bytes = encode(0, claim).to_vec();
                bytes.resize(SLOT_STRIDE_BYTES as usize + SLOT_BYTES, 0);
                write_file_atomically(storage, &path, &bytes).map_err(io_error(&path))?;
                0
            }
        };
        let file = storage
            .open(&path, OpenMode::CreateOrOpen)
            .map_err(io_error(&path))?;
        let mut evidence = Self {
            path,
            file,
            counter,
            unsynced_commits: 0,
        };
        evidence.record(claim, true)?;
        Ok(evidence)
    }

    /// Records `claim` (which must already be durable) in the older slot; fsyncs when
    /// `sync` or when [`SYNC_EVERY_COMMITS`] claims went unsynced.
    pub(super) fn record(&mut self, claim: Claim, sync: bool) -> Result<(), StoreError> {
        self.counter += 1;
        let at = (self.counter % 2) * SLOT_STRIDE_BYTES;
        self.file
            .write_at(at, &encode(self.counter, claim))
            .map_err(io_error(&self.path))?;
        self.unsynced_commits += 1;
        if sync || self.unsynced_commits >= SYNC_EVERY_COMMITS {
            self.file.sync_data().map_err(io_error(&self.path))?;
            self.unsynced_commits = 0;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use exactly_core::SimStorage;

    #[test]
    fn the_newest_valid_slot_wins_and_a_damaged_file_is_refused() {
        let storage = SimStorage::new(1);
        let dir = Path::new("/d");
        storage.create_dir_all(dir).unwrap();
        let claim = |length_bytes| Claim {
            generation: 3,
            length_bytes,
        };
        let mut evidence = DurableEnd::open(&storage, dir, claim(10)).unwrap();
        evidence.record(claim(20), false).unwrap();
        evidence.record(claim(30), false).unwrap();
        assert_eq!(
            DurableEnd::read(&storage, dir).ok().flatten(),
            Some(claim(30))
        );
        let path = dir.join(FILE_NAME);
        let mut bytes = storage.live_bytes(&path).unwrap();
        // Damage the newest slot (counter 3 is odd: slot at 512): the older claim remains.
        bytes[512 + 20] ^= 1;
        storage.overwrite_bytes(&path, bytes).unwrap();
        assert_eq!(
            DurableEnd::read(&storage, dir).ok().flatten(),
            Some(claim(20))
        );
        storage.overwrite_bytes(&path, Vec::new()).unwrap();
        assert!(matches!(
            DurableEnd::read(&storage, dir),
            Err(StoreError::Corrupt { .. })
        ));
    }
}
