//! The names the protocol deals in: workers, tasks, lease epochs and request ids. Plain
//! numbers wrapped in types so that a task can never be passed where a worker is meant.

use std::fmt;

/// One incarnation of a worker process. A restarted process takes a fresh id (for
/// example a random `u64`, or a number handed out by a database sequence), so nothing a
/// dead incarnation left in the network can be mistaken for the new one's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WorkerId(pub u64);

/// One task of a job: an opaque number (the job maps it to a stage × key-group range or
/// a stage × source partitions). A job's task list is fixed while it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId(pub u32);

/// A lease epoch. Every change of a task's owner (and every takeover of the coordinator
/// lease) raises it by one; whoever presents an older epoch is fenced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Epoch(pub u64);

impl Epoch {
    /// The epoch after this one.
    pub fn next(self) -> Epoch {
        // An epoch rises once per takeover; u64 does not run out in any deployment's life.
        Epoch(self.0.saturating_add(1))
    }
}

/// Names one request a [`WorkerCore`](crate::WorkerCore) sent, so that its response can
/// be matched (or recognized as late, duplicated or unknown and ignored).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

impl fmt::Display for WorkerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "w{}", self.0)
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t{}", self.0)
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "e{}", self.0)
    }
}
