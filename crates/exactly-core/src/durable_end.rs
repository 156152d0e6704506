//! Durable-end evidence: a small file recording how much of some data was known durable.
//!
//! Recovery of a journal cannot tell a torn tail (bytes whose fsync never returned: cutting
//! them is right) from damage of bytes that *were* fsynced and perhaps acknowledged (cutting
//! them loses acknowledged data). The evidence tells them apart. Its rules:
//! - a claim is written **after** the data it describes is durable, never ahead, so it is
//!   always true when written — it may lag the truth, never lead it;
//! - claims are written in place with a plain write (no fsync of their own: a killed process
//!   cannot lose them, the page cache keeps them), and the file is fsynced every
//!   `sync_every` claims and on a clean close, so only an OS crash can take back the newest
//!   claims — falling back to an older, still true one;
//! - the file has two slots, [`SLOT_STRIDE_BYTES`] apart (different sectors), written
//!   alternately; each is a [`crate::framing`] frame holding a counter and the claim. The
//!   valid slot with the highest counter wins, so a torn in-place write damages only the
//!   slot being written and the other still holds the previous claim;
//! - the file is created whole (atomically) with both slots valid, so a file with no valid
//!   slot was damaged, never torn: that is a typed error, never "no claim";
//! - a claim moves *down* (after compaction or repair) only by [`DurableEndWriter::replace`],
//!   an atomic rewrite: an in-place lower claim could be torn and fall back to the higher,
//!   now false, one.
//!
//! A claim is `N` words (`u64`): each user decides what they mean (a journal length; a
//! generation and a length; a segment, a byte position and an offset).

use crate::framing::{self, FrameKind, HEADER_BYTES};
use crate::storage::{read_file, write_file_atomically, OpenMode, Storage, StorageFile};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use thiserror::Error;

/// Slot 1 starts this many bytes after slot 0.
pub const SLOT_STRIDE_BYTES: u64 = 512;
/// Version of the slot layout (`counter u64 | N × u64`).
const VERSION: u32 = 1;

/// The newest valid claim of an evidence file and the counter of its slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Evidence<const N: usize> {
    /// Write counter of the slot (slot = counter % 2).
    pub counter: u64,
    /// The claim.
    pub claim: [u64; N],
}

/// Why evidence could not be read or written.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DurableEndError {
    /// The storage failed.
    #[error("durable-end evidence {path}: {source}")]
    Io {
        /// The evidence file.
        path: PathBuf,
        /// The storage error.
        #[source]
        source: io::Error,
    },
    /// The file exists but neither slot is valid.
    #[error("durable-end evidence {path} is damaged: {reason}")]
    Damaged {
        /// The evidence file.
        path: PathBuf,
        /// What is wrong with each slot.
        reason: String,
    },
}

fn kind<const N: usize>(magic: [u8; 4]) -> FrameKind {
    FrameKind {
        magic,
        version: VERSION,
        body_bytes_max: (8 + 8 * N) as u32,
    }
}

/// Bytes of one slot holding an `N`-word claim.
pub const fn slot_bytes(words: usize) -> usize {
    HEADER_BYTES + 8 + 8 * words
}

/// Bytes of a whole evidence file holding `N`-word claims.
pub const fn file_bytes(words: usize) -> usize {
    SLOT_STRIDE_BYTES as usize + slot_bytes(words)
}

/// Where the slot of write number `counter` starts.
pub fn slot_position(counter: u64) -> u64 {
    (counter % 2) * SLOT_STRIDE_BYTES
}

/// Encodes one slot.
pub fn encode_slot<const N: usize>(magic: [u8; 4], counter: u64, claim: &[u64; N]) -> Vec<u8> {
    let mut body = Vec::with_capacity(8 + 8 * N);
    body.extend_from_slice(&counter.to_le_bytes());
    for word in claim {
        body.extend_from_slice(&word.to_le_bytes());
    }
    // The body is exactly `body_bytes_max` long by construction of `kind`.
    #[allow(clippy::expect_used)]
    framing::encode(&kind::<N>(magic), &body).expect("a slot body fits its own limit")
}

/// Decodes one slot (the bytes from the slot's start on).
pub fn decode_slot<const N: usize>(magic: [u8; 4], bytes: &[u8]) -> Result<Evidence<N>, String> {
    let decoded = framing::decode(&kind::<N>(magic), bytes).map_err(|e| e.to_string())?;
    let mut words = decoded
        .body
        .chunks_exact(8)
        .filter_map(|c| c.try_into().ok().map(u64::from_le_bytes));
    let counter = words.next();
    let claim: Vec<u64> = words.collect();
    match (counter, <[u64; N]>::try_from(claim)) {
        (Some(counter), Ok(claim)) => Ok(Evidence { counter, claim }),
        _ => Err(format!(
            "slot body of {} bytes, expected {}",
            decoded.body.len(),
            8 + 8 * N
        )),
    }
}

/// A whole new file: both slots hold `claim` (counters 0 and 1).
pub fn encode_file<const N: usize>(magic: [u8; 4], claim: &[u64; N]) -> Vec<u8> {
    let mut out = encode_slot(magic, 0, claim);
    out.resize(SLOT_STRIDE_BYTES as usize, 0);
    out.extend_from_slice(&encode_slot(magic, 1, claim));
    out
}

/// The newest valid slot of a file's bytes, or what is wrong with both.
pub fn decode_file<const N: usize>(magic: [u8; 4], bytes: &[u8]) -> Result<Evidence<N>, String> {
    let slot = |counter: u64| {
        let at = slot_position(counter) as usize;
        match bytes.get(at..) {
            Some(rest) => decode_slot::<N>(magic, rest),
            None => Err(format!("file of {} bytes ends before it", bytes.len())),
        }
    };
    match (slot(0), slot(1)) {
        (Ok(a), Ok(b)) => Ok(if b.counter > a.counter { b } else { a }),
        (Ok(a), Err(_)) => Ok(a),
        (Err(_), Ok(b)) => Ok(b),
        (Err(a), Err(b)) => Err(format!("slot 0: {a}; slot 1: {b}")),
    }
}

fn io_error<'a>(
    path: &'a Path,
    what: &'static str,
) -> impl FnOnce(io::Error) -> DurableEndError + 'a {
    move |source| {
        tracing::warn!(path = %path.display(), error = %source, "durable-end evidence: {what} failed");
        DurableEndError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The newest claim of the evidence file at `path`: `None` when the file does not exist,
/// [`DurableEndError::Damaged`] when neither slot is valid.
pub fn load<const N: usize>(
    storage: &dyn Storage,
    path: &Path,
    magic: [u8; 4],
) -> Result<Option<Evidence<N>>, DurableEndError> {
    let bytes = match read_file(storage, path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(path, "read")(e)),
    };
    decode_file(magic, &bytes)
        .map(Some)
        .map_err(|reason| DurableEndError::Damaged {
            path: path.to_path_buf(),
            reason,
        })
}

/// The writer side of an evidence file. See the module docs for the rules.
#[derive(Debug)]
pub struct DurableEndWriter<const N: usize> {
    path: PathBuf,
    file: Arc<dyn StorageFile>,
    magic: [u8; 4],
    counter: u64,
    unsynced: u32,
    sync_every: u32,
}

impl<const N: usize> DurableEndWriter<N> {
    /// Creates (or replaces) the file at `path` atomically with both slots holding `claim`,
    /// which must be durable already.
    pub fn create(
        storage: &dyn Storage,
        path: &Path,
        magic: [u8; 4],
        claim: [u64; N],
        sync_every: u32,
    ) -> Result<Self, DurableEndError> {
        write_file_atomically(storage, path, &encode_file(magic, &claim))
            .map_err(io_error(path, "atomic create"))?;
        Self::open(
            storage,
            path,
            magic,
            Evidence { counter: 1, claim },
            sync_every,
        )
    }

    /// Opens the existing file at `path` whose newest slot is `newest` (from [`load`]).
    pub fn open(
        storage: &dyn Storage,
        path: &Path,
        magic: [u8; 4],
        newest: Evidence<N>,
        sync_every: u32,
    ) -> Result<Self, DurableEndError> {
        let file = storage
            .open(path, OpenMode::Existing)
            .map_err(io_error(path, "open"))?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            magic,
            counter: newest.counter,
            unsynced: 0,
            sync_every: sync_every.max(1),
        })
    }

    /// The file's path (for error messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether written claims await a sync.
    pub fn has_unsynced(&self) -> bool {
        self.unsynced > 0
    }

    /// Writes `claim` (durable already) over the older slot, without a sync.
    pub fn write(&mut self, claim: [u64; N]) -> Result<(), DurableEndError> {
        let counter = self.counter + 1;
        let slot = encode_slot(self.magic, counter, &claim);
        self.file
            .write_at(slot_position(counter), &slot)
            .map_err(io_error(&self.path, "slot write"))?;
        self.counter = counter;
        self.unsynced = self.unsynced.saturating_add(1);
        Ok(())
    }

    /// Writes `claim` and syncs once `sync_every` claims went unsynced.
    pub fn record(&mut self, claim: [u64; N]) -> Result<(), DurableEndError> {
        self.write(claim)?;
        if self.unsynced >= self.sync_every {
            self.sync()?;
        }
        Ok(())
    }

    /// Writes `claim` and syncs at once.
    pub fn record_synced(&mut self, claim: [u64; N]) -> Result<(), DurableEndError> {
        self.write(claim)?;
        self.sync()
    }

    /// Makes the newest claim durable (clean close); nothing to do when all are synced.
    pub fn sync(&mut self) -> Result<(), DurableEndError> {
        if self.unsynced > 0 {
            self.file
                .sync_data()
                .map_err(io_error(&self.path, "sync"))?;
            self.unsynced = 0;
        }
        Ok(())
    }

    /// Replaces the file atomically with `claim` in both slots: the only way a claim may
    /// move down.
    pub fn replace(
        &mut self,
        storage: &dyn Storage,
        claim: [u64; N],
    ) -> Result<(), DurableEndError> {
        *self = Self::create(storage, &self.path, self.magic, claim, self.sync_every)?;
        Ok(())
    }
}
