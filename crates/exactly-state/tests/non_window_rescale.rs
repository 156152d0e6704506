//! Keyed state split by key group and merged again — parallelism 2 → 3 → 2 — holds the same
//! value for every key as one task that saw everything.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use exactly_core::Timestamp;
use exactly_state::{NonWindowState, Sum};
use proptest::prelude::*;

const KEY_GROUPS: u64 = 64;

fn key_group(key: &[u8]) -> u64 {
    key.iter()
        .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(*b)))
        % KEY_GROUPS
}

/// Key groups are assigned to tasks in contiguous ranges, so rescaling moves whole groups.
fn owner(key: &[u8], tasks: u64) -> u64 {
    key_group(key) * tasks / KEY_GROUPS
}

fn rescale(states: Vec<NonWindowState<Sum>>, tasks: u64) -> Vec<NonWindowState<Sum>> {
    let mut next: Vec<NonWindowState<Sum>> = (0..tasks).map(|_| NonWindowState::new(Sum)).collect();
    for mut state in states {
        for (key, value) in state.split_off(|_| false) {
            let target = owner(&key, tasks) as usize;
            next[target].merge(vec![(key, value)]);
        }
    }
    next
}

proptest! {
    #[test]
    fn rescaling_preserves_every_key(updates in proptest::collection::vec((0u8..50, -100i128..100), 1..300)) {
        let mut single = NonWindowState::new(Sum);
        let mut two: Vec<NonWindowState<Sum>> = (0..2).map(|_| NonWindowState::new(Sum)).collect();
        let half = updates.len() / 2;
        for (i, (key, value)) in updates.iter().enumerate() {
            single.update(&[*key], Timestamp(i as i64), value);
            if i == half {
                two = rescale(two, 3);
            }
            let tasks = two.len() as u64;
            two[owner(&[*key], tasks) as usize].update(&[*key], Timestamp(i as i64), value);
        }
        // Through a snapshot, as a restart with another parallelism would.
        let restored: Vec<NonWindowState<Sum>> = two
            .iter()
            .map(|s| {
                let mut r = NonWindowState::new(Sum);
                r.restore(&s.snapshot().unwrap()).unwrap();
                r
            })
            .collect();
        let back = rescale(restored, 2);
        for (key, value) in single.iter() {
            let owner = owner(key, 2) as usize;
            prop_assert_eq!(back[owner].get(key), *value);
        }
        let total: usize = back.iter().map(NonWindowState::len).sum();
        prop_assert_eq!(total, single.len());
    }
}
