//! The requests a worker is waiting on: what each was for and when it was sent. The send
//! time is what self-fencing measures from, so it is kept until the answer comes.

use crate::assign::Assignment;
use crate::ids::{Epoch, TaskId};

/// A request awaiting its response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Pending {
    /// Local time the request was sent: a grant it returns was made at store time no
    /// earlier than this instant.
    pub sent_local_ms: u64,
    /// What it asked for.
    pub kind: PendingKind,
}

/// What a pending request asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PendingKind {
    Heartbeat,
    Coordinate,
    /// Carries the assignment so the coordinator can apply its own part at once.
    Publish(Assignment),
    Acquire(TaskId),
    Renew(TaskId, Epoch),
    Release(TaskId, Epoch),
}
