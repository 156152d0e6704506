//! Property test of the secure channel's sliding replay window against a model (a set of
//! every counter accepted and the highest one): for any sequence of counters — in order,
//! reordered, duplicated, jumping far ahead, falling far behind — a counter is accepted
//! exactly when it was never accepted and lies at most `REPLAY_WINDOW` below the highest
//! accepted counter.

// Test helpers, not library code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use exactly_pipe::secure::{ReplayWindow, REPLAY_WINDOW};
use proptest::prelude::*;
use std::collections::HashSet;

/// A step: a jump relative to the highest counter so far (mostly near it, sometimes far
/// ahead or far behind the window).
fn steps() -> impl Strategy<Value = Vec<i64>> {
    let near = -200i64..200;
    let edge = (REPLAY_WINDOW as i64 - 70)..(REPLAY_WINDOW as i64 + 70);
    let step = prop_oneof![
        6 => near,
        2 => edge.clone().prop_map(|d| -d),
        1 => edge,
        1 => 0i64..20_000,
    ];
    proptest::collection::vec(step, 1..600)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn window_accepts_exactly_what_the_model_accepts(steps in steps()) {
        let mut window = ReplayWindow::new();
        let mut accepted: HashSet<u64> = HashSet::new();
        let mut highest: Option<u64> = None;
        for step in steps {
            let base = highest.unwrap_or(0) as i64;
            let counter = (base + step).max(0) as u64;
            let fresh = !accepted.contains(&counter)
                && highest.is_none_or(|h| counter > h || h - counter <= REPLAY_WINDOW);
            prop_assert_eq!(window.is_fresh(counter), fresh, "is_fresh({})", counter);
            prop_assert_eq!(window.mark(counter), fresh, "mark({})", counter);
            if fresh {
                accepted.insert(counter);
                highest = Some(highest.map_or(counter, |h| h.max(counter)));
            }
        }
    }
}
