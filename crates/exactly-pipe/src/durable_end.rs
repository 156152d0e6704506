//! The *durable end* of a journal: a 12-byte file beside it recording how many of its bytes
//! were fsynced.
//!
//! ```text
//! durable_bytes u64 LE | crc32c u32 LE (over the 8 bytes)
//! ```
//!
//! Written with a plain write after every journal fsync (cheap: no fsync of its own), and
//! fsynced every [`DURABLE_END_SYNC_EVERY`] updates and on [`DurableEnd::sync`]. It is only
//! ever written *after* the journal bytes it counts are durable, so it can lag behind the
//! truth (after a power loss) but never run ahead of it.

use crate::journal::JournalError;
use exactly_core::storage::{OpenMode, Storage, StorageFile};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Size of the durable-end file.
const DURABLE_END_BYTES: usize = 12;
/// The durable-end file is fsynced once per this many updates (and at close).
pub const DURABLE_END_SYNC_EVERY: u32 = 64;

/// The durable-end file of one journal.
#[derive(Debug)]
pub(crate) struct DurableEnd {
    path: PathBuf,
    file: Arc<dyn StorageFile>,
    updates_since_sync: u32,
}

/// The durable-end file's path for the journal at `journal`: `<journal>.durable`.
pub(crate) fn path_for(journal: &Path) -> PathBuf {
    let mut name = journal.as_os_str().to_os_string();
    name.push(".durable");
    PathBuf::from(name)
}

fn encode(durable_bytes: u64) -> [u8; DURABLE_END_BYTES] {
    let mut out = [0; DURABLE_END_BYTES];
    let len = durable_bytes.to_le_bytes();
    let crc = crc32c::crc32c(&len).to_le_bytes();
    for (slot, byte) in out.iter_mut().zip(len.iter().chain(crc.iter())) {
        *slot = *byte;
    }
    out
}

/// The recorded durable length, or `None` if the bytes are missing or damaged (a torn
/// write of the file itself: it was never fsynced with that content).
fn decode(bytes: &[u8]) -> Option<u64> {
    let len: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
    let crc = u32::from_le_bytes(bytes.get(8..DURABLE_END_BYTES)?.try_into().ok()?);
    (crc32c::crc32c(&len) == crc).then(|| u64::from_le_bytes(len))
}

impl DurableEnd {
    /// Opens (creating if missing) the durable-end file of `journal` and returns it with the
    /// durable length it records (0 when it is new, short or damaged).
    pub(crate) fn open(
        storage: &dyn Storage,
        journal: &Path,
    ) -> Result<(DurableEnd, u64), JournalError> {
        let path = path_for(journal);
        let io = |source| JournalError::Io {
            path: path.clone(),
            source,
        };
        let existed = storage.exists(&path).map_err(io)?;
        let file = storage.open(&path, OpenMode::CreateOrOpen).map_err(io)?;
        if !existed {
            if let Some(dir) = path.parent() {
                storage.sync_dir(dir).map_err(io)?;
            }
        }
        let mut bytes = [0; DURABLE_END_BYTES];
        let read = file.read_at(0, &mut bytes).map_err(io)?;
        // New, short or torn (never fsynced with that content): 0 claims nothing, which is
        // always safe because the durable end is only a lower bound on the truth.
        let recorded = bytes.get(..read).and_then(decode).unwrap_or(0);
        let end = DurableEnd {
            path,
            file,
            updates_since_sync: 0,
        };
        Ok((end, recorded))
    }

    /// The file's path (named in errors).
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Records that the first `durable_bytes` of the journal are durable. Call only after
    /// the journal's fsync returned.
    pub(crate) fn record(&mut self, durable_bytes: u64) -> Result<(), JournalError> {
        self.file
            .write_at(0, &encode(durable_bytes))
            .map_err(|e| self.io(e))?;
        self.updates_since_sync += 1;
        if self.updates_since_sync >= DURABLE_END_SYNC_EVERY {
            self.sync()?;
        }
        Ok(())
    }

    /// Records `durable_bytes` and fsyncs at once (before the journal shrinks, and at close).
    pub(crate) fn record_synced(&mut self, durable_bytes: u64) -> Result<(), JournalError> {
        self.file
            .write_at(0, &encode(durable_bytes))
            .map_err(|e| self.io(e))?;
        self.sync()
    }

    /// Makes the latest recorded length durable.
    pub(crate) fn sync(&mut self) -> Result<(), JournalError> {
        self.file.sync_data().map_err(|e| self.io(e))?;
        self.updates_since_sync = 0;
        Ok(())
    }

    fn io(&self, source: std::io::Error) -> JournalError {
        JournalError::Io {
            path: self.path.clone(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_damage() {
        let bytes = encode(123_456);
        assert_eq!(decode(&bytes), Some(123_456));
        for bit in 0..DURABLE_END_BYTES * 8 {
            let mut bad = bytes;
            if let Some(b) = bad.get_mut(bit / 8) {
                *b ^= 1 << (bit % 8);
            }
            assert_eq!(decode(&bad), None, "flip of bit {bit} went unnoticed");
        }
        assert_eq!(decode(&bytes[..5]), None);
    }
}
