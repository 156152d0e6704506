//! [`Rejected`]: the count of input records a built-in job's parse step rejected (a leaf,
//! so that every built-in job can share it).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Counts input records a built-in job's parse step rejected (each goes to the job's
/// dead-letter topic, or fails the job; none is skipped).
#[derive(Clone, Debug, Default)]
pub struct Rejected(pub Arc<AtomicU64>);

impl Rejected {
    /// Records rejected so far (replays count again).
    pub fn count(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}
