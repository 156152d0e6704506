//! Producer ids for idempotent (non-transactional) Kafka producers, never handed out twice,
//! across restarts too: ids are reserved in blocks, each block recorded durably in
//! `<log dir>/.kafka-producer-ids` before any id of it is given out. A crash loses at most
//! the rest of a block. Transactional ids get theirs from the log's coordinator, which
//! allocates from 2^62 up; these start at 2^61, below them, and above ids chosen by hand.

use exactly_core::storage::{read_file, write_file_atomically};
use exactly_core::Storage;
use serde::{Deserialize, Serialize};
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use thiserror::Error;

/// First id handed out.
pub const FIRST_IDEMPOTENT_PRODUCER_ID: u64 = 1 << 61;
/// Ids reserved per durable write.
pub const BLOCK_IDS: u64 = 1000;
/// File name in the log directory (a dot name: never a topic).
pub const FILE_NAME: &str = ".kafka-producer-ids";

/// Why an id could not be allocated.
#[derive(Debug, Error)]
pub enum ProducerIdError {
    /// Reading or writing the reservation file failed.
    #[error("producer id reservation file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: io::Error,
    },
    /// The reservation file does not parse.
    #[error("producer id reservation file {path} is malformed: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The id range is used up.
    #[error("no idempotent producer ids left")]
    Exhausted,
}

#[derive(Serialize, Deserialize)]
struct Reservation {
    version: u32,
    reserved_end: u64,
}

/// The allocator.
#[derive(Debug)]
pub struct ProducerIds {
    storage: Arc<dyn Storage>,
    path: PathBuf,
    next: u64,
    reserved_end: u64,
}

impl ProducerIds {
    /// Loads the reservation of a log directory (ids of the last block are never reused).
    pub fn open(storage: Arc<dyn Storage>, path: PathBuf) -> Result<Self, ProducerIdError> {
        let exists = storage
            .exists(&path)
            .map_err(|source| ProducerIdError::Io {
                path: path.clone(),
                source,
            })?;
        let reserved_end = match exists {
            false => FIRST_IDEMPOTENT_PRODUCER_ID,
            true => {
                let bytes =
                    read_file(storage.as_ref(), &path).map_err(|source| ProducerIdError::Io {
                        path: path.clone(),
                        source,
                    })?;
                let reservation: Reservation =
                    serde_json::from_slice(&bytes).map_err(|e| ProducerIdError::Malformed {
                        path: path.clone(),
                        reason: e.to_string(),
                    })?;
                reservation.reserved_end
            }
        };
        Ok(Self {
            storage,
            path,
            next: reserved_end,
            reserved_end,
        })
    }

    /// A producer id no earlier call (in this or an earlier run) returned.
    pub fn allocate(&mut self) -> Result<u64, ProducerIdError> {
        if self.next == self.reserved_end {
            let reserved_end = self
                .reserved_end
                .checked_add(BLOCK_IDS)
                .filter(|end| *end < exactly_log::txn::FIRST_ALLOCATED_PRODUCER_ID)
                .ok_or(ProducerIdError::Exhausted)?;
            let bytes = serde_json::to_vec(&Reservation {
                version: 1,
                reserved_end,
            })
            .map_err(|e| ProducerIdError::Malformed {
                path: self.path.clone(),
                reason: e.to_string(),
            })?;
            write_file_atomically(self.storage.as_ref(), &self.path, &bytes).map_err(|source| {
                ProducerIdError::Io {
                    path: self.path.clone(),
                    source,
                }
            })?;
            self.reserved_end = reserved_end;
        }
        let id = self.next;
        self.next += 1;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use exactly_core::storage::StdStorage;

    #[test]
    fn ids_are_never_reused_after_reopen() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join(FILE_NAME);
        let storage: Arc<dyn Storage> = Arc::new(StdStorage);
        let mut ids = ProducerIds::open(storage.clone(), path.clone())?;
        let first = ids.allocate()?;
        let second = ids.allocate()?;
        assert_eq!((first, second), (FIRST_IDEMPOTENT_PRODUCER_ID, first + 1));
        let mut reopened = ProducerIds::open(storage, path)?;
        assert!(reopened.allocate()? > second);
        Ok(())
    }
}
