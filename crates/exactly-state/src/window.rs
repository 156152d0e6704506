//! [`WindowState`]: monoid values per key per event-time window. A window `[start, end)`
//! is emitted and dropped once the clock — the least timestamp any input may still carry —
//! reaches its end (plus the allowed lateness): no message for it can arrive any more.

use crate::monoid::Monoid;
use crate::SnapshotError;
use exactly_core::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Which windows a timestamp belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WindowAssigner {
    /// Back-to-back windows of `size_ms`.
    Tumbling {
        /// Window length.
        size_ms: i64,
    },
    /// Windows of `size_ms` starting every `slide_ms` (a timestamp is in `size/slide` of them).
    Sliding {
        /// Window length.
        size_ms: i64,
        /// Distance between window starts.
        slide_ms: i64,
    },
}

impl WindowAssigner {
    fn size_ms(&self) -> i64 {
        match *self {
            WindowAssigner::Tumbling { size_ms } | WindowAssigner::Sliding { size_ms, .. } => {
                size_ms.max(1)
            }
        }
    }

    /// Starts of the windows containing `timestamp`, oldest first.
    pub fn window_starts(&self, timestamp: Timestamp) -> Vec<i64> {
        let ts = timestamp.0;
        match *self {
            WindowAssigner::Tumbling { size_ms } => {
                let size = size_ms.max(1);
                vec![ts.div_euclid(size).saturating_mul(size)]
            }
            WindowAssigner::Sliding { size_ms, slide_ms } => {
                let (size, slide) = (size_ms.max(1), slide_ms.max(1));
                let last = ts.div_euclid(slide).saturating_mul(slide);
                let mut starts = Vec::new();
                let mut start = last;
                while start > ts.saturating_sub(size) {
                    starts.push(start);
                    start = start.saturating_sub(slide);
                }
                starts.reverse();
                starts
            }
        }
    }
}

/// What happens to a message whose window has already been emitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LatePolicy {
    /// Drop it and count it ([`WindowState::late_dropped`]).
    Drop,
    /// Keep each window open `lateness_ms` past its end; drop (and count) what comes later.
    AllowedLateness {
        /// Extra time a window stays open.
        lateness_ms: i64,
    },
}

impl LatePolicy {
    fn lateness_ms(&self) -> i64 {
        match *self {
            LatePolicy::Drop => 0,
            LatePolicy::AllowedLateness { lateness_ms } => lateness_ms.max(0),
        }
    }
}

/// A closed window's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowedValue<V> {
    /// The key.
    pub key: Vec<u8>,
    /// Window start (inclusive), ms.
    pub start_ms: i64,
    /// Window end (exclusive), ms.
    pub end_ms: i64,
    /// The combined value.
    pub value: V,
}

/// (window end, key, window start): ordered by end so that closing windows is a prefix.
type WindowSlot = (i64, Vec<u8>, i64);

/// Keyed, windowed monoid state.
#[derive(Debug)]
pub struct WindowState<M: Monoid> {
    monoid: M,
    assigner: WindowAssigner,
    late_policy: LatePolicy,
    /// (window end, key, window start) → value: ordered by end so closing is a prefix.
    open: BTreeMap<(i64, Vec<u8>, i64), M::Value>,
    clock: Timestamp,
    late_dropped: u64,
}

impl<M: Monoid> WindowState<M> {
    /// Empty state.
    pub fn new(monoid: M, assigner: WindowAssigner, late_policy: LatePolicy) -> Self {
        Self {
            monoid,
            assigner,
            late_policy,
            open: BTreeMap::new(),
            clock: Timestamp::MIN,
            late_dropped: 0,
        }
    }

    /// Combines `value` into every window of `timestamp` for `key`; windows already emitted
    /// count the message as late instead. Returns how many windows took it.
    pub fn update(&mut self, key: &[u8], timestamp: Timestamp, value: &M::Value) -> usize {
        let size = self.assigner.size_ms();
        let mut taken = 0;
        for start in self.assigner.window_starts(timestamp) {
            let end = start.saturating_add(size);
            if self.is_closed(end) {
                self.late_dropped += 1;
                continue;
            }
            let slot = (end, key.to_vec(), start);
            let current = self
                .open
                .get(&slot)
                .cloned()
                .unwrap_or_else(|| self.monoid.zero());
            self.open.insert(slot, self.monoid.combine(&current, value));
            taken += 1;
        }
        taken
    }

    fn is_closed(&self, end_ms: i64) -> bool {
        end_ms.saturating_add(self.late_policy.lateness_ms()) <= self.clock.0
    }

    /// Moves the clock to `clock` (it never goes back) and returns the windows that closed,
    /// ordered by end, key, start. They are dropped from the state.
    pub fn advance_clock(&mut self, clock: Timestamp) -> Vec<WindowedValue<M::Value>> {
        if clock <= self.clock {
            return Vec::new();
        }
        self.clock = clock;
        let mut closed = Vec::new();
        let lateness = self.late_policy.lateness_ms();
        while let Some(entry) = self.open.first_entry() {
            let (end, _, _) = *entry.key();
            if end.saturating_add(lateness) > clock.0 {
                break;
            }
            let ((end_ms, key, start_ms), value) = entry.remove_entry();
            closed.push(WindowedValue {
                key,
                start_ms,
                end_ms,
                value,
            });
        }
        closed
    }

    /// The clock the state has seen.
    pub fn clock(&self) -> Timestamp {
        self.clock
    }

    /// Open (key, window) slots.
    pub fn open_windows(&self) -> usize {
        self.open.len()
    }

    /// Messages dropped as late.
    pub fn late_dropped(&self) -> u64 {
        self.late_dropped
    }

    /// Serialises the state (postcard).
    pub fn snapshot(&self) -> Result<Vec<u8>, SnapshotError> {
        let entries: Vec<(&WindowSlot, &M::Value)> = self.open.iter().collect();
        postcard::to_allocvec(&(self.clock.0, self.late_dropped, entries))
            .map_err(|e| SnapshotError::Encode(e.to_string()))
    }

    /// Replaces the state with a snapshot.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<(), SnapshotError> {
        type Entries<V> = Vec<((i64, Vec<u8>, i64), V)>;
        let (clock, late_dropped, entries): (i64, u64, Entries<M::Value>) =
            postcard::from_bytes(bytes).map_err(|e| SnapshotError::Decode(e.to_string()))?;
        self.clock = Timestamp(clock);
        self.late_dropped = late_dropped;
        self.open = entries.into_iter().collect();
        Ok(())
    }
}
