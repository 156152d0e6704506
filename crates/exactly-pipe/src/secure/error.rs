//! The errors of the secure channel.

use std::path::PathBuf;
use thiserror::Error;

/// Why a secure channel (or its keys) could not be set up.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SecureError {
    /// The Noise library refused an operation.
    #[error("noise: {what}: {source}")]
    Noise {
        /// What was being done.
        what: &'static str,
        /// Its error.
        source: snow::Error,
    },
    /// The crypto resolver lacks X25519 (cannot happen with the default resolver).
    #[error("the Noise resolver does not provide X25519")]
    Unsupported,
    /// A key of the wrong length.
    #[error("a key must be 32 bytes, not {len}")]
    KeyLength {
        /// Bytes given.
        len: usize,
    },
    /// A key that is not 64 hex digits.
    #[error("not a key (64 hex digits expected): {text:?}")]
    BadHex {
        /// The text (at most 80 characters of it).
        text: String,
    },
    /// A key file could not be read or written.
    #[error("key file {}", path.display())]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// The file-system error.
        source: std::io::Error,
    },
    /// A private key file others may read.
    #[error(
        "private key file {} is readable by others (mode {mode:o}); chmod 600 it",
        path.display()
    )]
    KeyFileMode {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A responder without any allowed sender key would refuse everyone.
    #[error("no sender public key is allowed: pass at least one")]
    NoAllowedKeys,
}

impl SecureError {
    /// Wraps a `snow` error with what was being done.
    pub(crate) fn noise(what: &'static str) -> impl FnOnce(snow::Error) -> SecureError {
        move |source| SecureError::Noise { what, source }
    }
}
