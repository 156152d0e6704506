//! The one recovery rule for append-only journals (pure: bytes in, verdict out).
//!
//! A journal is a sequence of records appended at its end; a crash can only damage what was
//! being appended, never what was already durable. Recovery scans from the start and stops
//! at the first record that does not decode. That record is a **torn tail** — cut, and the
//! bytes removed reported — only if
//! - no valid record starts anywhere after it (a torn write damages only the end), and
//! - it lies at or beyond the *durable-end claim* (bytes below the claim were fsynced, so
//!   damage there is lost durable data, not a torn write).
//!
//! Otherwise the journal is refused with a [`RecoveryError`] naming the file, the byte and
//! the reason. A file shorter than the claim is refused as well.
//!
//! The rule does not care how records are laid out: a journal plugs its record format in
//! through [`RecordFormat`]. [`FramedRecords`] is the format of journals made of
//! [`crate::framing`] frames; the log's batches and older journal layouts implement the
//! trait themselves.

use crate::framing::{self, FrameError, FrameKind};
use std::ops::Range;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why a record does not decode at a position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// Human-readable reason.
    pub reason: String,
}

impl From<FrameError> for Damage {
    fn from(e: FrameError) -> Self {
        Damage {
            reason: e.to_string(),
        }
    }
}

impl From<String> for Damage {
    fn from(reason: String) -> Self {
        Damage { reason }
    }
}

/// How one journal lays out its records.
pub trait RecordFormat {
    /// What a decoded record yields to the caller.
    type Record;
    /// Decodes the record starting at `position` of `bytes`: its length in bytes (at least
    /// one) and its value, or why it is not a whole valid record.
    fn decode_at(&self, bytes: &[u8], position: usize) -> Result<(usize, Self::Record), Damage>;
    /// A cheap test used while searching for a valid record after damage: `false` means no
    /// record can start at `position` (e.g. the magic is missing). Defaults to `true`.
    fn may_start_at(&self, bytes: &[u8], position: usize) -> bool {
        let _ = (bytes, position);
        true
    }
}

/// Journals of [`crate::framing`] frames of one kind; a record is the byte range of its body.
#[derive(Clone, Copy, Debug)]
pub struct FramedRecords {
    /// The frame kind of every record.
    pub kind: FrameKind,
}

impl RecordFormat for FramedRecords {
    type Record = Range<usize>;

    fn decode_at(&self, bytes: &[u8], position: usize) -> Result<(usize, Range<usize>), Damage> {
        let Some(rest) = bytes.get(position..) else {
            return Err(FrameError::Truncated { available: 0 }.into());
        };
        let decoded = framing::decode(&self.kind, rest)?;
        let start = position + framing::HEADER_BYTES;
        Ok((decoded.frame_bytes, start..start + decoded.body.len()))
    }

    fn may_start_at(&self, bytes: &[u8], position: usize) -> bool {
        bytes.get(position..position + 4) == Some(&self.kind.magic[..])
    }
}

/// A torn tail that recovery cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// Where the cut is (the length of the valid prefix).
    pub position: u64,
    /// Bytes removed.
    pub bytes_removed: u64,
    /// Why the first removed record did not decode.
    pub reason: String,
}

/// What recovery kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// Length of the valid prefix: the journal's length after recovery.
    pub valid_bytes: u64,
    /// The torn tail to cut, if any (the caller truncates the file to `valid_bytes`).
    pub torn: Option<TornTail>,
}

/// Why a journal is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RecoveryError {
    /// A damaged record followed by a valid one: not a torn write.
    #[error(
        "{path}: damaged record at byte {position} ({reason}), and a valid record follows at \
         byte {valid_at}"
    )]
    DamageBeforeValid {
        /// The journal.
        path: PathBuf,
        /// Where the damaged record starts.
        position: u64,
        /// Where the next valid record starts.
        valid_at: u64,
        /// Why the record does not decode.
        reason: String,
    },
    /// A damaged record below the durable-end claim: lost durable data.
    #[error(
        "{path}: damaged record at byte {position} ({reason}), inside the first \
         {durable_bytes} bytes that were durable"
    )]
    DamagedDurable {
        /// The journal.
        path: PathBuf,
        /// Where the damaged record starts.
        position: u64,
        /// The durable-end claim.
        durable_bytes: u64,
        /// Why the record does not decode.
        reason: String,
    },
    /// The file is shorter than the durable-end claim.
    #[error("{path}: {len_bytes} bytes long, but its first {durable_bytes} bytes were durable")]
    ShorterThanDurable {
        /// The journal.
        path: PathBuf,
        /// Its length.
        len_bytes: u64,
        /// The durable-end claim.
        durable_bytes: u64,
    },
}

impl RecoveryError {
    /// The byte the refusal is about.
    pub fn position(&self) -> u64 {
        match self {
            RecoveryError::DamageBeforeValid { position, .. }
            | RecoveryError::DamagedDurable { position, .. } => *position,
            RecoveryError::ShorterThanDurable { len_bytes, .. } => *len_bytes,
        }
    }
}

/// The verdict on a scan that stopped at `position` of a journal of `len_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Cut at `position`.
    TornTail,
    /// Refuse: a valid record starts at the given byte.
    DamageBeforeValid(u64),
    /// Refuse: `position` is below the durable-end claim.
    DamagedDurable,
}

/// The rule itself, for journals that scan their own way: damage at `position` with a valid
/// record at `valid_after` (if any) and a durable-end claim of `durable_bytes`.
pub fn judge(position: u64, valid_after: Option<u64>, durable_bytes: u64) -> Verdict {
    match valid_after {
        Some(at) => Verdict::DamageBeforeValid(at),
        None if position < durable_bytes => Verdict::DamagedDurable,
        None => Verdict::TornTail,
    }
}

/// The first position after `from` where a whole valid record starts.
pub fn valid_record_after<F: RecordFormat>(bytes: &[u8], from: usize, format: &F) -> Option<usize> {
    (from.saturating_add(1)..bytes.len())
        .filter(|&at| format.may_start_at(bytes, at))
        .find(|&at| format.decode_at(bytes, at).is_ok_and(|(len, _)| len > 0))
}

/// Scans `bytes` (the whole journal at `path`), handing every valid record to `visit` in
/// order, and applies the rule at the first one that does not decode. `durable_bytes` is
/// the durable-end claim (0 when there is none). The caller truncates a torn tail.
pub fn recover<F: RecordFormat>(
    path: &Path,
    bytes: &[u8],
    format: &F,
    durable_bytes: u64,
    mut visit: impl FnMut(F::Record),
) -> Result<Recovery, RecoveryError> {
    let len_bytes = bytes.len() as u64;
    if len_bytes < durable_bytes {
        return Err(RecoveryError::ShorterThanDurable {
            path: path.to_path_buf(),
            len_bytes,
            durable_bytes,
        });
    }
    let mut at = 0usize;
    while at < bytes.len() {
        let damage = match format.decode_at(bytes, at) {
            Ok((len, record)) if len > 0 => {
                visit(record);
                at += len;
                continue;
            }
            Ok(_) => Damage::from("a record of zero bytes".to_string()),
            Err(damage) => damage,
        };
        let position = at as u64;
        let valid_after = valid_record_after(bytes, at, format).map(|p| p as u64);
        return match judge(position, valid_after, durable_bytes) {
            Verdict::DamageBeforeValid(valid_at) => Err(RecoveryError::DamageBeforeValid {
                path: path.to_path_buf(),
                position,
                valid_at,
                reason: damage.reason,
            }),
            Verdict::DamagedDurable => Err(RecoveryError::DamagedDurable {
                path: path.to_path_buf(),
                position,
                durable_bytes,
                reason: damage.reason,
            }),
            Verdict::TornTail => Ok(Recovery {
                valid_bytes: position,
                torn: Some(TornTail {
                    position,
                    bytes_removed: len_bytes - position,
                    reason: damage.reason,
                }),
            }),
        };
    }
    Ok(Recovery {
        valid_bytes: len_bytes,
        torn: None,
    })
}
