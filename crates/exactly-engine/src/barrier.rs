//! [`BarrierAligner`]: aligns checkpoint barriers across the inputs of one task.
//!
//! Sources inject barrier *n* into their streams when checkpoint *n* starts. A task with
//! several inputs must snapshot its state only once it has processed everything before
//! barrier *n* on **every** input and nothing after it on any: so an input whose barrier has
//! arrived is *blocked* (its further messages are held by the driver) until the barrier has
//! arrived on all inputs. Then the task snapshots, forwards the barrier, and unblocks.
//!
//! Sans-IO: the driver asks [`BarrierAligner::accepts`] before delivering a message from an
//! input and reports barriers with [`BarrierAligner::on_barrier`].

/// Id of a checkpoint; ids increase.
pub type CheckpointId = u64;

/// What a barrier did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BarrierEvent {
    /// Still waiting for the barrier on other inputs; this input is now blocked.
    Waiting {
        /// Inputs still missing the barrier.
        missing: usize,
    },
    /// Every input delivered barrier `id`: snapshot now, forward the barrier, then deliver
    /// the held messages. All inputs are unblocked.
    Aligned(CheckpointId),
    /// A barrier older than the one being aligned (or already completed): ignored.
    Stale,
}

/// Barrier alignment state of one task.
#[derive(Clone, Debug)]
pub struct BarrierAligner {
    blocked: Vec<bool>,
    current: Option<CheckpointId>,
    last_completed: Option<CheckpointId>,
}

impl BarrierAligner {
    /// A task with `inputs` inputs.
    pub fn new(inputs: usize) -> Self {
        Self {
            blocked: vec![false; inputs.max(1)],
            current: None,
            last_completed: None,
        }
    }

    /// Whether a message from `input` may be processed now (false: hold it until aligned).
    pub fn accepts(&self, input: usize) -> bool {
        let blocked = self
            .blocked
            .get(input)
            .expect("inputs are numbered 0..inputs, the length of `blocked`");
        !blocked
    }

    /// Barrier `id` arrived on `input`.
    pub fn on_barrier(&mut self, input: usize, id: CheckpointId) -> BarrierEvent {
        if self.last_completed.is_some_and(|done| id <= done) {
            return BarrierEvent::Stale;
        }
        match self.current {
            Some(current) if id < current => return BarrierEvent::Stale,
            // A newer barrier overtakes an unfinished alignment: that checkpoint can no
            // longer complete here, so start over with the newer one.
            Some(current) if id > current => self.blocked.iter_mut().for_each(|b| *b = false),
            _ => {}
        }
        self.current = Some(id);
        *self
            .blocked
            .get_mut(input)
            .expect("inputs are numbered 0..inputs, the length of `blocked`") = true;
        let missing = self.blocked.iter().filter(|b| !**b).count();
        if missing > 0 {
            #[cfg(debug_assertions)]
            self.debug_check_consistency();
            return BarrierEvent::Waiting { missing };
        }
        self.blocked.iter_mut().for_each(|b| *b = false);
        self.current = None;
        self.last_completed = Some(id);
        #[cfg(debug_assertions)]
        self.debug_check_consistency();
        BarrierEvent::Aligned(id)
    }

    /// Asserts the aligner's invariants: inputs are blocked only while a checkpoint is
    /// being aligned, and then some but not all of them (all blocked means aligned, which
    /// unblocks every input at once); the checkpoint being aligned is newer than the last
    /// one completed. Called after every barrier in debug builds.
    pub fn debug_check_consistency(&self) {
        let blocked = self.blocked.iter().filter(|b| **b).count();
        match self.current {
            None => assert_eq!(blocked, 0, "inputs blocked with no checkpoint aligning"),
            Some(current) => {
                assert!(
                    blocked > 0,
                    "checkpoint {current} aligning with no input blocked"
                );
                assert!(
                    blocked < self.blocked.len(),
                    "checkpoint {current} aligning with every input blocked"
                );
                if let Some(done) = self.last_completed {
                    assert!(
                        current > done,
                        "checkpoint {current} aligning after {done} completed"
                    );
                }
            }
        }
    }

    /// The checkpoint being aligned, if any.
    pub fn aligning(&self) -> Option<CheckpointId> {
        self.current
    }
}
