//! [`ClockTracker`]: the clock of a task. Each input reports the least timestamp it may still
//! deliver; messages buffered in the task also hold the clock back. The task's clock — the
//! minimum of all of these — only moves forward, and windows whose end it passes can fire.

use exactly_core::Timestamp;
use std::collections::BTreeMap;

/// Tracks input clocks and pending messages of one task.
#[derive(Clone, Debug)]
pub struct ClockTracker {
    inputs: Vec<Timestamp>,
    /// Multiset of timestamps of messages taken in but not yet processed.
    pending: BTreeMap<Timestamp, usize>,
    clock: Timestamp,
}

impl ClockTracker {
    /// A task with `inputs` inputs, every one at `Timestamp::MIN`.
    pub fn new(inputs: usize) -> Self {
        Self {
            inputs: vec![Timestamp::MIN; inputs.max(1)],
            pending: BTreeMap::new(),
            clock: Timestamp::MIN,
        }
    }

    /// Input `input` promises no message older than `clock` from now on. A promise never
    /// moves back: an older report is ignored.
    pub fn advance_input(&mut self, input: usize, clock: Timestamp) -> Timestamp {
        if let Some(current) = self.inputs.get_mut(input) {
            *current = (*current).max(clock);
        }
        self.recompute()
    }

    /// A message with `timestamp` was taken in and is pending.
    pub fn add_pending(&mut self, timestamp: Timestamp) -> Timestamp {
        *self.pending.entry(timestamp).or_insert(0) += 1;
        self.recompute()
    }

    /// A pending message with `timestamp` was processed.
    pub fn remove_pending(&mut self, timestamp: Timestamp) -> Timestamp {
        if let Some(count) = self.pending.get_mut(&timestamp) {
            *count -= 1;
            if *count == 0 {
                self.pending.remove(&timestamp);
            }
        }
        self.recompute()
    }

    /// The task's clock.
    pub fn clock(&self) -> Timestamp {
        self.clock
    }

    fn recompute(&mut self) -> Timestamp {
        // No inputs: nothing bounds the clock from below yet (a task has ≥ 1 input once
        // wired). Nothing pending: nothing holds it back.
        let inputs = match self.inputs.iter().copied().min() {
            Some(clock) => clock,
            None => Timestamp::MIN,
        };
        let pending = match self.pending.keys().next() {
            Some(&oldest) => oldest,
            None => Timestamp::MAX,
        };
        // Monotone: a late message (older than the clock) is the window state's business
        // (its late policy), not a reason to move time backwards.
        self.clock = self.clock.max(inputs.min(pending));
        self.clock
    }
}
