//! What the coordinator records per transactional id: its [`TxnState`] and the whole
//! [`TxnMetadata`] written to `__transactions`. A leaf module: the table, the errors and
//! the snapshot all name these types.

use crate::batch::ControlKind;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Where a transactional id stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnState {
    /// No transaction open.
    Empty,
    /// Open: appends may follow.
    Ongoing,
    /// Durable and waiting for commit or abort (two-phase commit).
    Prepared,
    /// Commit decided; markers being written.
    PrepareCommit,
    /// Abort decided; markers being written.
    PrepareAbort,
    /// Committed.
    CompleteCommit,
    /// Aborted.
    CompleteAbort,
}

/// A transactional id's durable state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnMetadata {
    /// The application's name for the producer.
    pub transactional_id: String,
    /// Producer id it owns.
    pub producer_id: u64,
    /// Current epoch (one per transaction).
    pub epoch: u16,
    /// State of the current transaction.
    pub state: TxnState,
    /// Partitions the current transaction has written to.
    pub partitions: BTreeSet<(String, u32)>,
    /// Abort an open transaction after this long.
    pub timeout_ms: i64,
    /// Wall time the current transaction began.
    pub started_ms: i64,
    /// Epoch of the current transaction's batches (its epoch at `begin`; `epoch` may be
    /// bumped since by an abort or a hand-over). Its markers carry exactly this epoch.
    /// `None` in records written before it existed: `epoch` is used then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub txn_epoch: Option<u16>,
}

impl TxnMetadata {
    /// The decision this state records, if it records one.
    pub fn decision(&self) -> Option<ControlKind> {
        match self.state {
            TxnState::PrepareCommit | TxnState::CompleteCommit => Some(ControlKind::Commit),
            TxnState::PrepareAbort | TxnState::CompleteAbort => Some(ControlKind::Abort),
            _ => None,
        }
    }
}
