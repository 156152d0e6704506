//! Which key a secure sender state directory belongs to (`<state>/SENDER_KEY`, the public
//! key in hex).
//!
//! A state directory is one *incarnation* of a sender: it keeps the random sender id it was
//! created with, and a secure receiver de-duplicates by (authenticated key, that id). Its
//! unconfirmed messages must therefore be resent under the same key: under another one
//! they would be a new sender to the receiver and could be delivered twice. The file is
//! written (atomically, fsynced) before the journal is created, so a crash between the two
//! leaves a directory that still opens with its key.

use super::error::UdpError;
use crate::durable::SENDER_JOURNAL;
use crate::secure::PublicKey;
use exactly_core::storage::{read_file, write_file_atomically, StdStorage};
use std::path::Path;

/// The file, inside the state directory.
pub const SENDER_KEY_FILE: &str = "SENDER_KEY";

/// What the state directory says about its key before the journal is opened.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Binding {
    /// Recorded for this key (or just recorded: the directory had no journal yet).
    Bound,
    /// A journal without a key file: written by a plaintext sender or by a secure sender
    /// from before incarnations; [`check_unrecorded`] decides once its id is known.
    Unrecorded,
}

/// Checks (or, for a directory without a journal, records) that `state` belongs to `key`.
pub(crate) fn bind(state: &Path, key: &PublicKey) -> Result<Binding, UdpError> {
    let path = state.join(SENDER_KEY_FILE);
    let io = |source| UdpError::SenderKeyFile {
        path: path.clone(),
        source,
    };
    match read_file(&StdStorage, &path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            match PublicKey::from_hex(&text) {
                Ok(recorded) if recorded == *key => Ok(Binding::Bound),
                _ => Err(UdpError::KeyMismatch {
                    state: state.to_owned(),
                    recorded: format!("key {}", text.trim()),
                    key: *key,
                }),
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if state.join(SENDER_JOURNAL).exists() {
                return Ok(Binding::Unrecorded);
            }
            std::fs::create_dir_all(state).map_err(io)?;
            let text = format!("{}\n", key.to_hex());
            write_file_atomically(&StdStorage, &path, text.as_bytes()).map_err(io)?;
            Ok(Binding::Bound)
        }
        Err(e) => Err(io(e)),
    }
}

/// A journal without a key file is this key's only if its sender id is the one secure
/// senders took from their key before incarnations; then the key is recorded. Anything
/// else (a plaintext sender's state) is refused.
pub(crate) fn check_unrecorded(
    state: &Path,
    key: &PublicKey,
    state_sender_id: u64,
) -> Result<(), UdpError> {
    if state_sender_id != key.sender_id() {
        return Err(UdpError::KeyMismatch {
            state: state.to_owned(),
            recorded: format!("sender id {state_sender_id:#x} (--insecure, or another key)"),
            key: *key,
        });
    }
    let path = state.join(SENDER_KEY_FILE);
    let text = format!("{}\n", key.to_hex());
    write_file_atomically(&StdStorage, &path, text.as_bytes())
        .map_err(|source| UdpError::SenderKeyFile { path, source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secure::StaticKeypair;
    use crate::{DurableSender, PipeMode, SenderConfig};
    use std::sync::Arc;

    fn journal_with_id(state: &Path, id: u64) {
        let config = SenderConfig::for_mode(PipeMode::ResendIdDedup, id);
        DurableSender::open(Arc::new(StdStorage), state, config, 0).unwrap();
    }

    #[test]
    fn a_state_directory_stays_with_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let (one, two) = (
            StaticKeypair::generate().unwrap().public(),
            StaticKeypair::generate().unwrap().public(),
        );
        let fresh = dir.path().join("fresh");
        assert_eq!(bind(&fresh, &one).unwrap(), Binding::Bound);
        assert_eq!(bind(&fresh, &one).unwrap(), Binding::Bound);
        assert!(matches!(
            bind(&fresh, &two),
            Err(UdpError::KeyMismatch { .. })
        ));
        // Created by a secure sender before incarnations: its id is its key's.
        let legacy = dir.path().join("legacy");
        journal_with_id(&legacy, one.sender_id());
        assert_eq!(bind(&legacy, &one).unwrap(), Binding::Unrecorded);
        check_unrecorded(&legacy, &one, one.sender_id()).unwrap();
        assert_eq!(bind(&legacy, &one).unwrap(), Binding::Bound);
        // Created by a plaintext sender: a random id, refused under any key.
        let plain = dir.path().join("plain");
        journal_with_id(&plain, 12_345);
        assert_eq!(bind(&plain, &one).unwrap(), Binding::Unrecorded);
        assert!(matches!(
            check_unrecorded(&plain, &one, 12_345),
            Err(UdpError::KeyMismatch { .. })
        ));
    }
}
