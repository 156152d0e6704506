//! The *durable end* of a journal: the file `<journal>.durable` beside it recording how many
//! of its bytes were fsynced — the core's two-slot evidence ([`exactly_core::durable_end`])
//! with a one-word claim (the durable length).
//!
//! Written with a plain write after every journal fsync (cheap: no fsync of its own), and
//! fsynced every [`DURABLE_END_SYNC_EVERY`] updates and on [`DurableEnd::sync`]. It is only
//! ever written *after* the journal bytes it counts are durable, so it can lag behind the
//! truth (after a power loss) but never run ahead of it. It moves down (compaction) only by
//! an atomic rewrite.
//!
//! Older builds wrote a single 12-byte record (`durable_bytes u64 LE | crc32c u32 LE`),
//! created empty and written in place, so a short or damaged one was a torn write of the
//! file itself. A file shorter than one slot stride is read that way (damaged = a claim of
//! 0, as before) and replaced by the two-slot file at once; a two-slot file with both slots
//! damaged is refused ([`JournalError::DurableEnd`]).

use crate::journal::error::JournalError;
use exactly_core::durable_end::{self as evidence, DurableEndWriter, Evidence};
use exactly_core::storage::{read_file, Storage};
use std::path::{Path, PathBuf};

/// The durable-end file is fsynced once per this many updates (and at close).
pub const DURABLE_END_SYNC_EVERY: u32 = 64;
/// Magic of the slots of a pipe journal's durable-end file.
const MAGIC: [u8; 4] = *b"EXPD";
/// Size of the durable-end file of older builds.
const LEGACY_BYTES: usize = 12;

/// The durable-end file of one journal.
#[derive(Debug)]
pub(crate) struct DurableEnd {
    writer: DurableEndWriter<1>,
}

/// The durable-end file's path for the journal at `journal`: `<journal>.durable`.
pub(crate) fn path_for(journal: &Path) -> PathBuf {
    let mut name = journal.as_os_str().to_os_string();
    name.push(".durable");
    PathBuf::from(name)
}

/// The claim of an older build's 12-byte file, `None` if short or damaged.
fn decode_legacy(bytes: &[u8]) -> Option<u64> {
    let len: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
    let crc = u32::from_le_bytes(bytes.get(8..LEGACY_BYTES)?.try_into().ok()?);
    (crc32c::crc32c(&len) == crc).then(|| u64::from_le_bytes(len))
}

fn evidence_error(e: evidence::DurableEndError) -> JournalError {
    JournalError::DurableEnd(e)
}

impl DurableEnd {
    /// Opens (creating if missing) the durable-end file of `journal` and returns it with the
    /// durable length it records (0 when it is new).
    pub(crate) fn open(
        storage: &dyn Storage,
        journal: &Path,
    ) -> Result<(DurableEnd, u64), JournalError> {
        let path = path_for(journal);
        let io = |source: std::io::Error| {
            tracing::warn!(path = %path.display(), error = %source, "reading a durable end failed");
            JournalError::Io {
                path: path.clone(),
                source,
            }
        };
        let legacy = match storage.exists(&path).map_err(io)? {
            false => Some(0),
            true => {
                let bytes = read_file(storage, &path).map_err(io)?;
                // An older build's file (or one created empty and never written): a damaged
                // one claims nothing, which is safe because the claim is only a lower bound.
                (bytes.len() < evidence::SLOT_STRIDE_BYTES as usize).then(|| {
                    match decode_legacy(&bytes) {
                        Some(claim) => claim,
                        None => {
                            tracing::warn!(path = %path.display(), "a damaged legacy durable end claims nothing");
                            0
                        }
                    }
                })
            }
        };
        let (writer, recorded) = match legacy {
            Some(claim) => (
                DurableEndWriter::create(storage, &path, MAGIC, [claim], DURABLE_END_SYNC_EVERY)
                    .map_err(evidence_error)?,
                claim,
            ),
            None => {
                let newest: Evidence<1> = evidence::load(storage, &path, MAGIC)
                    .map_err(evidence_error)?
                    .ok_or_else(|| {
                        io(std::io::Error::new(
                            std::io::ErrorKind::NotFound,
                            "the durable end vanished while being opened",
                        ))
                    })?;
                let [claim] = newest.claim;
                (
                    DurableEndWriter::open(storage, &path, MAGIC, newest, DURABLE_END_SYNC_EVERY)
                        .map_err(evidence_error)?,
                    claim,
                )
            }
        };
        Ok((DurableEnd { writer }, recorded))
    }

    /// The file's path (named in errors).
    pub(crate) fn path(&self) -> &Path {
        self.writer.path()
    }

    /// Records that the first `durable_bytes` of the journal are durable. Call only after
    /// the journal's fsync returned.
    pub(crate) fn record(&mut self, durable_bytes: u64) -> Result<(), JournalError> {
        self.writer.record([durable_bytes]).map_err(evidence_error)
    }

    /// Lowers the claim to `durable_bytes` atomically and durably (before the journal
    /// shrinks).
    pub(crate) fn lower(
        &mut self,
        storage: &dyn Storage,
        durable_bytes: u64,
    ) -> Result<(), JournalError> {
        self.writer
            .replace(storage, [durable_bytes])
            .map_err(evidence_error)
    }

    /// Makes the latest recorded length durable.
    pub(crate) fn sync(&mut self) -> Result<(), JournalError> {
        self.writer.sync().map_err(evidence_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use exactly_core::{OpenMode, SimStorage};

    #[test]
    fn a_legacy_file_is_read_and_upgraded() {
        let storage = SimStorage::new(1);
        storage.create_dir_all(Path::new("/d")).unwrap();
        let journal = Path::new("/d/j");
        let mut legacy = 4242u64.to_le_bytes().to_vec();
        legacy.extend_from_slice(&crc32c::crc32c(&4242u64.to_le_bytes()).to_le_bytes());
        let file = storage
            .open(&path_for(journal), OpenMode::CreateNew)
            .unwrap();
        file.write_at(0, &legacy).unwrap();
        file.sync_data().unwrap();
        let (_, recorded) = DurableEnd::open(&storage, journal).unwrap();
        assert_eq!(recorded, 4242);
        let bytes = storage.live_bytes(&path_for(journal)).unwrap();
        assert_eq!(
            bytes.len(),
            evidence::file_bytes(1),
            "upgraded to two slots"
        );
        let (_, recorded) = DurableEnd::open(&storage, journal).unwrap();
        assert_eq!(recorded, 4242);
        // A damaged legacy record claims nothing (it was a torn write of the file itself).
        storage
            .overwrite_bytes(&path_for(journal), legacy[..5].to_vec())
            .unwrap();
        assert_eq!(DurableEnd::open(&storage, journal).unwrap().1, 0);
        assert_eq!(decode_legacy(&legacy), Some(4242));
    }

    #[test]
    fn a_two_slot_file_with_both_slots_damaged_is_refused() {
        let storage = SimStorage::new(2);
        storage.create_dir_all(Path::new("/d")).unwrap();
        let journal = Path::new("/d/j");
        DurableEnd::open(&storage, journal).unwrap();
        let path = path_for(journal);
        let mut bytes = storage.live_bytes(&path).unwrap();
        bytes[20] ^= 1;
        bytes[evidence::SLOT_STRIDE_BYTES as usize + 20] ^= 1;
        storage.overwrite_bytes(&path, bytes).unwrap();
        assert!(matches!(
            DurableEnd::open(&storage, journal),
            Err(JournalError::DurableEnd(
                evidence::DurableEndError::Damaged { .. }
            ))
        ));
    }
}
