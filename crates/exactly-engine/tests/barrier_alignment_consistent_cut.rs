//! Barrier alignment: the snapshot taken when every input has delivered the barrier holds
//! exactly the messages sent before it on every input (random interleavings); stale and
//! overtaking barriers are handled explicitly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use exactly_engine::{BarrierAligner, BarrierEvent};
use proptest::prelude::*;

proptest! {
    /// Inputs deliver messages and barriers in random interleavings; the snapshot taken at
    /// alignment must contain exactly the messages sent before the barrier on every input.
    #[test]
    fn aligned_snapshot_is_a_consistent_cut(
        before in proptest::collection::vec(0usize..20, 3),
        after in proptest::collection::vec(0usize..20, 3),
        schedule in proptest::collection::vec(0usize..3, 200),
    ) {
        // Per input: `before[i]` messages, the barrier, `after[i]` messages.
        let mut queues: Vec<Vec<Option<usize>>> = (0..3)
            .map(|i| {
                let mut q: Vec<Option<usize>> = (0..before[i]).map(Some).collect();
                q.push(None);
                q.extend((before[i]..before[i] + after[i]).map(Some));
                q.reverse();
                q
            })
            .collect();
        let mut aligner = BarrierAligner::new(3);
        let mut processed = [0usize; 3];
        let mut snapshot = None;
        let mut steps = schedule.into_iter().chain(std::iter::repeat_n(0..3, 200).flatten());
        while queues.iter().any(|q| !q.is_empty()) {
            let Some(input) = steps.next() else { break };
            if !aligner.accepts(input) {
                continue; // held by the driver
            }
            match queues[input].pop() {
                Some(Some(_)) => processed[input] += 1,
                Some(None) => {
                    if let BarrierEvent::Aligned(1) = aligner.on_barrier(input, 1) {
                        snapshot = Some(processed);
                    }
                }
                None => {}
            }
        }
        prop_assert_eq!(snapshot, Some([before[0], before[1], before[2]]));
    }
}

#[test]
fn stale_and_overtaking_barriers() {
    let mut aligner = BarrierAligner::new(2);
    assert_eq!(
        aligner.on_barrier(0, 5),
        BarrierEvent::Waiting { missing: 1 }
    );
    assert!(!aligner.accepts(0));
    assert_eq!(aligner.on_barrier(1, 4), BarrierEvent::Stale);
    assert_eq!(
        aligner.on_barrier(1, 6),
        BarrierEvent::Waiting { missing: 1 },
        "6 overtakes 5"
    );
    assert!(aligner.accepts(0) && !aligner.accepts(1));
    assert_eq!(aligner.on_barrier(0, 6), BarrierEvent::Aligned(6));
    assert_eq!(aligner.on_barrier(0, 6), BarrierEvent::Stale);
}
