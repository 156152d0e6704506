//! The errors of the UDP driver.

use crate::secure::SecureError;
use crate::{DurableError, StateDirError};
use std::path::PathBuf;

/// Why a UDP pipe end stopped.
#[derive(Debug, thiserror::Error)]
pub enum UdpError {
    /// The state directory is in use by another process, or cannot be locked.
    #[error(transparent)]
    StateDir(#[from] StateDirError),
    /// The durable state cannot be opened.
    #[error("opening {end} state {}", path.display())]
    Open {
        /// `sender` or `receiver`.
        end: &'static str,
        /// State directory.
        path: PathBuf,
        /// Cause.
        source: DurableError,
    },
    /// The journal failed while running.
    #[error(transparent)]
    Durable(#[from] DurableError),
    /// A socket operation failed (not one of the transient kinds UDP reports).
    #[error("{what}")]
    Socket {
        /// What was being done (`binding the sender socket`, `receiving acks`, …).
        what: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The secure channel could not be set up.
    #[error(transparent)]
    Secure(#[from] SecureError),
    /// The sender state directory belongs to another identity than the key given.
    #[error(
        "sender state {} was created for {recorded}, not for the key given ({key}): its \
         unconfirmed messages must be resent under the key they were sent with; use that \
         key, or a new, empty state directory",
        state.display()
    )]
    KeyMismatch {
        /// The state directory.
        state: PathBuf,
        /// What the state directory was created for.
        recorded: String,
        /// The public key given.
        key: crate::secure::PublicKey,
    },
    /// The file recording a sender state directory's key could not be read or written.
    #[error("sender key file {}", path.display())]
    SenderKeyFile {
        /// The file.
        path: PathBuf,
        /// The file-system error.
        source: std::io::Error,
    },
    /// The caller's handling of delivered messages failed.
    #[error("handing over delivered messages")]
    Deliver(#[source] std::io::Error),
}

impl UdpError {
    /// A socket error, logged with what was being done.
    pub(crate) fn socket(what: impl Into<String>, source: std::io::Error) -> Self {
        let what = what.into();
        tracing::warn!(what = %what, error = %source, "pipe socket failed");
        Self::Socket { what, source }
    }

    /// A failure to open the durable state at `path`, logged with the path.
    pub(crate) fn open(end: &'static str, path: PathBuf, source: DurableError) -> Self {
        tracing::warn!(path = %path.display(), error = %source, "opening pipe {end} state failed");
        Self::Open { end, path, source }
    }
}
