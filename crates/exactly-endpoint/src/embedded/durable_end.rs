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
//! The file is the core's two-slot evidence ([`exactly_core::durable_end`]) with a
//! two-word claim. Older builds wrote their own two-slot layout (`magic "DEND" u32 |
//! version u16 | 0 u16 | counter u64 | generation u64 | length u64 | crc32c u32`, slots at
//! bytes 0 and 512): such a file is still read, and replaced by the current layout (same
//! claim, atomically) when the store opens for writing.

use crate::store::StoreError;
use exactly_core::durable_end::{self as evidence, DurableEndError, DurableEndWriter};
use exactly_core::storage::read_file;
use exactly_core::Storage;
use std::path::Path;

/// File name of the evidence in the store directory.
pub(super) const FILE_NAME: &str = "durable-end";
/// The evidence file is fsynced at least once every this many commits.
pub(super) const SYNC_EVERY_COMMITS: u32 = 64;
/// Magic of the current slots.
const MAGIC: [u8; 4] = *b"EXED";
/// The older layout's magic (a little-endian u32) and version.
const LEGACY_MAGIC: u32 = 0x4445_4E44; // "DEND"
const LEGACY_VERSION: u16 = 1;
const LEGACY_SLOT_BYTES: usize = 36;

/// What the evidence claims: the journal of `generation` held at least `length_bytes`
/// durable bytes of whole commits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Claim {
    /// Journal generation.
    pub generation: u64,
    /// Durable length of that journal in bytes.
    pub length_bytes: u64,
}

impl Claim {
    fn words(self) -> [u64; 2] {
        [self.generation, self.length_bytes]
    }
    fn from_words([generation, length_bytes]: [u64; 2]) -> Self {
        Claim {
            generation,
            length_bytes,
        }
    }
}

/// The open evidence file.
pub(super) struct DurableEnd {
    writer: DurableEndWriter<2>,
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// `(counter, claim)` of a whole, valid slot of the older layout.
fn decode_legacy_slot(bytes: &[u8]) -> Option<(u64, Claim)> {
    let slot = bytes.get(..LEGACY_SLOT_BYTES)?;
    let (body, crc) = slot.split_at(LEGACY_SLOT_BYTES - 4);
    if u32::from_le_bytes(crc.try_into().ok()?) != crc32c::crc32c(body) {
        return None;
    }
    let magic = u32::from_le_bytes(body.get(..4)?.try_into().ok()?);
    let version = u16::from_le_bytes(body.get(4..6)?.try_into().ok()?);
    if magic != LEGACY_MAGIC || version != LEGACY_VERSION {
        return None;
    }
    let claim = Claim {
        generation: u64_at(body, 16)?,
        length_bytes: u64_at(body, 24)?,
    };
    Some((u64_at(body, 8)?, claim))
}

/// The newest claim of an older-layout file, if any slot is valid.
fn decode_legacy(bytes: &[u8]) -> Option<Claim> {
    [0, evidence::SLOT_STRIDE_BYTES as usize]
        .into_iter()
        .filter_map(|at| bytes.get(at..).and_then(decode_legacy_slot))
        .max_by_key(|(counter, _)| *counter)
        .map(|(_, claim)| claim)
}

fn store_error(e: DurableEndError) -> StoreError {
    match e {
        DurableEndError::Io { path, source } => StoreError::Io { path, source },
        DurableEndError::Damaged { path, reason } => StoreError::Corrupt {
            path,
            position: 0,
            reason: format!(
                "no valid slot in the durable-end evidence ({reason}): the store cannot tell \
                 which commits were acknowledged (remove the file only if you accept that \
                 damage in the last commit goes unnoticed)"
            ),
        },
        other => StoreError::Corrupt {
            path: Path::new(FILE_NAME).to_path_buf(),
            position: 0,
            reason: other.to_string(),
        },
    }
}

/// What is on disk: the newest claim and whether it is in the older layout.
enum Found {
    Missing,
    Current(evidence::Evidence<2>),
    Legacy(Claim),
}

fn find(storage: &dyn Storage, dir: &Path) -> Result<Found, StoreError> {
    let path = dir.join(FILE_NAME);
    match evidence::load::<2>(storage, &path, MAGIC) {
        Ok(Some(newest)) => Ok(Found::Current(newest)),
        Ok(None) => Ok(Found::Missing),
        Err(damaged @ DurableEndError::Damaged { .. }) => {
            let bytes = read_file(storage, &path).map_err(|source| {
                tracing::warn!(path = %path.display(), error = %source, "reading the durable end failed");
                StoreError::Io {
                    path: path.clone(),
                    source,
                }
            })?;
            decode_legacy(&bytes)
                .map(Found::Legacy)
                .ok_or_else(|| store_error(damaged))
        }
        Err(other) => Err(store_error(other)),
    }
}

impl DurableEnd {
    /// Reads the evidence in `dir`: `Ok(None)` when the file does not exist (a new store,
    /// or one written before the evidence existed), `Corrupt` when no slot is valid.
    pub(super) fn read(storage: &dyn Storage, dir: &Path) -> Result<Option<Claim>, StoreError> {
        Ok(match find(storage, dir)? {
            Found::Missing => None,
            Found::Current(newest) => Some(Claim::from_words(newest.claim)),
            Found::Legacy(claim) => Some(claim),
        })
    }

    /// Opens the evidence for writing with `claim` (durable already) recorded and synced,
    /// creating the file (whole, atomically) when it does not exist or is in the older
    /// layout.
    pub(super) fn open(
        storage: &dyn Storage,
        dir: &Path,
        claim: Claim,
    ) -> Result<Self, StoreError> {
        let path = dir.join(FILE_NAME);
        let writer = match find(storage, dir)? {
            Found::Current(newest) => {
                let mut writer =
                    DurableEndWriter::open(storage, &path, MAGIC, newest, SYNC_EVERY_COMMITS)
                        .map_err(store_error)?;
                writer.record_synced(claim.words()).map_err(store_error)?;
                writer
            }
            Found::Missing | Found::Legacy(_) => {
                DurableEndWriter::create(storage, &path, MAGIC, claim.words(), SYNC_EVERY_COMMITS)
                    .map_err(store_error)?
            }
        };
        Ok(Self { writer })
    }

    /// Records `claim` (which must already be durable) in the older slot; fsyncs when
    /// `sync` or when [`SYNC_EVERY_COMMITS`] claims went unsynced.
    pub(super) fn record(&mut self, claim: Claim, sync: bool) -> Result<(), StoreError> {
        if sync {
            self.writer.record_synced(claim.words())
        } else {
            self.writer.record(claim.words())
        }
        .map_err(store_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use exactly_core::SimStorage;

    fn legacy_slot(counter: u64, claim: Claim) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&LEGACY_MAGIC.to_le_bytes());
        body.extend_from_slice(&LEGACY_VERSION.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&counter.to_le_bytes());
        body.extend_from_slice(&claim.generation.to_le_bytes());
        body.extend_from_slice(&claim.length_bytes.to_le_bytes());
        body.extend_from_slice(&crc32c::crc32c(&body).to_le_bytes());
        body
    }

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

    #[test]
    fn an_older_layout_is_read_and_upgraded_on_open() {
        let storage = SimStorage::new(2);
        let dir = Path::new("/d");
        storage.create_dir_all(dir).unwrap();
        let old = Claim {
            generation: 4,
            length_bytes: 77,
        };
        let mut bytes = legacy_slot(6, old);
        bytes.resize(512, 0);
        bytes.extend_from_slice(&legacy_slot(
            5,
            Claim {
                length_bytes: 50,
                ..old
            },
        ));
        let path = dir.join(FILE_NAME);
        let file = storage
            .open(&path, exactly_core::OpenMode::CreateNew)
            .unwrap();
        file.write_at(0, &bytes).unwrap();
        file.sync_data().unwrap();
        assert_eq!(DurableEnd::read(&storage, dir).unwrap(), Some(old));
        let mut evidence = DurableEnd::open(&storage, dir, old).unwrap();
        evidence
            .record(
                Claim {
                    length_bytes: 90,
                    ..old
                },
                true,
            )
            .unwrap();
        assert_eq!(
            storage.live_bytes(&path).unwrap().len(),
            evidence::file_bytes(2)
        );
        assert_eq!(
            DurableEnd::read(&storage, dir).unwrap(),
            Some(Claim {
                length_bytes: 90,
                ..old
            })
        );
    }
}
