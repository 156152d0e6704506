//! The [`Store`] trait: inbox, state, outbox and source positions behind one transaction.
//!
//! Implemented by [`crate::EmbeddedStore`] (journal + snapshot on `exactly_core::Storage`)
//! and by `exactly-postgres`. The trait is synchronous: the runtime handles one batch at a
//! time per endpoint, so there is nothing to overlap inside one endpoint, and the rest of
//! `exactly` (the log, the pipes) is synchronous too.

use crate::id::MessageId;
use crate::message::{OutboxEntry, Position};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A state entry: key and stored bytes.
pub type StateEntry = (Vec<u8>, Vec<u8>);

/// What the endpoint did with a message id, as the inbox remembers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// The handler ran and its effects committed.
    Processed,
    /// The message was rejected and its dead letter is in the outbox.
    DeadLettered,
}

impl Outcome {
    /// Small integer for SQL columns.
    pub fn code(self) -> i16 {
        match self {
            Self::Processed => 1,
            Self::DeadLettered => 2,
        }
    }

    /// Back from [`Outcome::code`].
    pub fn from_code(code: i16) -> Option<Self> {
        match code {
            1 => Some(Self::Processed),
            2 => Some(Self::DeadLettered),
            _ => None,
        }
    }
}

/// How long the inbox remembers processed ids. A duplicate that arrives after its id was
/// forgotten is processed again, so the policy must outlast the longest redelivery window
/// of the sources (for the log transport: the source position is committed with every
/// batch, so redeliveries come only from duplicates the producer itself wrote).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetentionPolicy {
    /// Never forget (memory and disk grow with every id).
    KeepAll,
    /// Keep the most recent `ids_max` ids.
    Count {
        /// Ids kept.
        ids_max: u64,
    },
    /// Keep ids recorded within the last `age_ms` milliseconds (commit time).
    Age {
        /// Age in milliseconds.
        age_ms: i64,
    },
}

/// What the store returns for a batch before the handler runs.
#[derive(Debug, Default)]
pub struct Prefetched {
    /// Inbox entries of the requested ids that are present.
    pub inbox: HashMap<MessageId, Outcome>,
    /// State values of the requested keys that are present.
    pub state: HashMap<Vec<u8>, Vec<u8>>,
}

/// An outgoing message as the runtime hands it to the store (the store assigns `seq`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewOutgoing {
    /// Derived id.
    pub id: MessageId,
    /// Destination topic.
    pub topic: String,
    /// Routing key.
    pub key: Vec<u8>,
    /// Body.
    pub payload: Vec<u8>,
}

/// Everything one batch writes, committed atomically.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    /// Ids recorded in the inbox, in processing order.
    pub inbox: Vec<(MessageId, Outcome)>,
    /// State writes (`None`: delete).
    pub state: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// Outgoing messages, in processing order.
    pub outbox: Vec<NewOutgoing>,
    /// Source positions after the batch.
    pub positions: Vec<Position>,
    /// Commit time (retention by age uses it).
    pub now_ms: i64,
}

/// Size of the inbox, for the retention measurements.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InboxStats {
    /// Ids currently remembered.
    pub ids: u64,
    /// Bytes the inbox takes in memory (0 for a server-side store).
    pub memory_bytes: u64,
    /// Bytes the inbox takes on disk (estimate for the embedded store: its share of the
    /// snapshot; measured relation size for PostgreSQL).
    pub disk_bytes: u64,
}

/// A store operation failed. After an error the store may have lost its connection or
/// fail-stopped; the runtime stops the batch and the caller reopens.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// File I/O failed.
    #[error("store I/O on {path}: {source}")]
    Io {
        /// File or directory.
        path: std::path::PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Stored bytes do not decode: never skipped.
    #[error("store file {path} is corrupt at byte {position}: {reason}")]
    Corrupt {
        /// File.
        path: std::path::PathBuf,
        /// Byte position.
        position: u64,
        /// What is wrong.
        reason: String,
    },
    /// An earlier sync failed: the durable state is unknown, the handle refuses all work.
    #[error("store fail-stopped after an earlier error: {reason}")]
    FailStopped {
        /// The first error.
        reason: String,
    },
    /// Another process is the endpoint's writer.
    #[error("store is locked by another writer: {what}")]
    Locked {
        /// Lock file or lock name.
        what: String,
    },
    /// The database connection was lost or refused: the transaction did not commit
    /// (or its outcome is unknown — the inbox makes the retry safe either way).
    #[error("store connection lost: {reason}")]
    Connection {
        /// Driver message.
        reason: String,
    },
    /// The batch would leave more undispatched outbox entries than the store holds; nothing
    /// was written. Dispatch, then retry.
    #[error("outbox full: {entries} undispatched entries would exceed {max}")]
    OutboxFull {
        /// Entries the batch would leave.
        entries: u64,
        /// The limit.
        max: u64,
    },
    /// The database refused a statement.
    #[error("store backend error: {reason}")]
    Backend {
        /// Driver message.
        reason: String,
    },
    /// A record could not be serialized: nothing was written.
    #[error("cannot encode the {what}: {reason}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// The serializer's message.
        reason: String,
    },
}

/// A transactional store of inbox, state, outbox and source positions.
pub trait Store {
    /// Runs one transaction: fetches the inbox entries of `ids` and the state of `keys`,
    /// hands them to `plan`, and commits what `plan` returns. `plan` returning `None`
    /// aborts (nothing is written). Returns whether a commit happened. After `Ok(true)`
    /// the commit is durable.
    fn transact(
        &mut self,
        ids: &[MessageId],
        keys: &[Vec<u8>],
        plan: &mut dyn FnMut(Prefetched) -> Option<Commit>,
    ) -> Result<bool, StoreError>;

    /// Up to `max` undispatched outbox entries, oldest first.
    fn pending_outbox(&mut self, max: usize) -> Result<Vec<OutboxEntry>, StoreError>;

    /// Marks every outbox entry with `seq <= upto_seq` dispatched (removes it). Need not be
    /// durable: losing a mark only republishes, which downstream inboxes drop.
    fn mark_dispatched(&mut self, upto_seq: u64) -> Result<(), StoreError>;

    /// Committed source positions.
    fn positions(&mut self) -> Result<Vec<Position>, StoreError>;

    /// Every state entry (audits, tests; not for hot paths).
    fn state_entries(&mut self) -> Result<Vec<StateEntry>, StoreError>;

    /// The inbox outcomes of `ids` that are remembered.
    fn inbox_lookup(
        &mut self,
        ids: &[MessageId],
    ) -> Result<HashMap<MessageId, Outcome>, StoreError>;

    /// Size of the inbox.
    fn inbox_stats(&mut self) -> Result<InboxStats, StoreError>;
}

/// A boxed store is a store (the CLI picks the backend at run time).
impl<S: Store + ?Sized> Store for Box<S> {
    fn transact(
        &mut self,
        ids: &[MessageId],
        keys: &[Vec<u8>],
        plan: &mut dyn FnMut(Prefetched) -> Option<Commit>,
    ) -> Result<bool, StoreError> {
        (**self).transact(ids, keys, plan)
    }
    fn pending_outbox(&mut self, max: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        (**self).pending_outbox(max)
    }
    fn mark_dispatched(&mut self, upto_seq: u64) -> Result<(), StoreError> {
        (**self).mark_dispatched(upto_seq)
    }
    fn positions(&mut self) -> Result<Vec<Position>, StoreError> {
        (**self).positions()
    }
    fn state_entries(&mut self) -> Result<Vec<StateEntry>, StoreError> {
        (**self).state_entries()
    }
    fn inbox_lookup(
        &mut self,
        ids: &[MessageId],
    ) -> Result<HashMap<MessageId, Outcome>, StoreError> {
        (**self).inbox_lookup(ids)
    }
    fn inbox_stats(&mut self) -> Result<InboxStats, StoreError> {
        (**self).inbox_stats()
    }
}
