//! `exactly-state`: the Persistent API — state that a stream engine checkpoints
//! with its checkpoint clock and restores after a crash, so that every message updates it
//! exactly once.
//!
//! State is built from [`Monoid`]s (an identity `zero` and an associative `combine`), which is
//! what makes it safe to split by key group, merge partial results and snapshot at any point.
//!
//! # Layout
//! - [`monoid`]: the [`Monoid`] trait and [`Sum`], [`Count`], [`Min`], [`Max`].
//! - [`non_window`]: [`NonWindowState`] — one value per key, no time boundary.
//! - [`window`]: [`WindowState`] — values per event-time window (tumbling or sliding),
//!   emitted and dropped once the clock passes the window's end; late messages follow an
//!   explicit [`LatePolicy`].
//! - [`checkpoint`]: [`CheckpointStore`] — checkpoints written atomically (temp → fsync →
//!   rename → fsync dir), the last K kept, the newest complete one found on restore.
//! - [`checkpoint_storage`]: [`CheckpointStorage`] — the trait the engine writes and
//!   restores checkpoints through (the commit point of a checkpoint); [`CheckpointStore`]
//!   is its embedded implementation, other crates add others (PostgreSQL).
//!
//! # Example
//! Per-key sums, snapshotted and restored as a checkpoint would:
//! ```
//! use exactly_core::Timestamp;
//! use exactly_state::{NonWindowState, Sum};
//!
//! # fn main() -> Result<(), exactly_state::SnapshotError> {
//! let mut balances = NonWindowState::new(Sum);
//! balances.update(b"alice", Timestamp(1), &-30);
//! balances.update(b"bob", Timestamp(1), &30);
//! balances.update(b"alice", Timestamp(2), &100);
//! let snapshot = balances.snapshot()?;
//! let mut restored = NonWindowState::new(Sum);
//! restored.restore(&snapshot)?;
//! assert_eq!(restored.get(b"alice"), 70);
//! assert_eq!(restored.get(b"bob"), 30);
//! assert_eq!(restored.get(b"carol"), 0); // the monoid's zero
//! # Ok(())
//! # }
//! ```

pub mod checkpoint;
pub mod checkpoint_storage;
pub mod monoid;
pub mod non_window;
pub mod window;

pub use checkpoint::{Checkpoint, CheckpointError, CheckpointStore, Restored};
pub use checkpoint_storage::CheckpointStorage;
pub use monoid::{Count, Max, Min, Monoid, Sum};
pub use non_window::NonWindowState;
pub use window::{LatePolicy, WindowAssigner, WindowState, WindowedValue};

/// Why a state snapshot could not be restored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The bytes do not decode as this state.
    #[error("state snapshot does not decode: {0}")]
    Decode(String),
    /// The state (or an output) could not be encoded; nothing was written for it.
    #[error("state does not encode: {0}")]
    Encode(String),
}
