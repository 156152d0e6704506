//! Why a journal operation failed, and the record size limit the errors name. Its own file
//! so that the durable-end code can return these errors without depending on the journal.

use std::path::PathBuf;
use thiserror::Error;

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
    /// The durable-end file is damaged (both slots) or could not be written.
    #[error(transparent)]
    DurableEnd(#[from] exactly_core::durable_end::DurableEndError),
    /// A record body that is empty or above [`RECORD_BYTES_MAX`].
    #[error("journal record of {len} bytes is empty or exceeds {RECORD_BYTES_MAX}")]
    RecordTooLarge {
        /// The body length.
        len: usize,
    },
}
