//! The assignment is balanced, complete, sticky with the least number of moves, stable
//! when nothing changed, and deterministic — for any task list, membership and previous
//! assignment (including previous assignments to workers that are gone).

use exactly_cluster::{assign, moves, Assignment, TaskId, WorkerId};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

/// Tasks 0..n, live workers from a pool of 8, and a previous assignment of some tasks to
/// any worker of a pool of 12 (so some previous owners are gone).
fn inputs() -> impl Strategy<Value = (Vec<TaskId>, BTreeSet<WorkerId>, Assignment)> {
    (0u32..40, prop::collection::btree_set(0u64..8, 1..8))
        .prop_flat_map(|(n, workers)| {
            let tasks: Vec<TaskId> = (0..n).map(TaskId).collect();
            let previous = prop::collection::vec(prop::option::of(0u64..12), n as usize);
            (Just(tasks), Just(workers), previous)
        })
        .prop_map(|(tasks, workers, previous)| {
            let current = tasks
                .iter()
                .zip(previous)
                .filter_map(|(task, worker)| worker.map(|w| (*task, WorkerId(w))))
                .collect();
            (tasks, workers.into_iter().map(WorkerId).collect(), current)
        })
}

/// The fewest moves any balanced assignment needs, computed independently: a worker can
/// keep at most `⌊n/k⌋` of its tasks, one more if it is one of the `n mod k` workers
/// given an extra place, and only workers holding more than `⌊n/k⌋` gain from one.
fn fewest_moves(tasks: &[TaskId], workers: &BTreeSet<WorkerId>, current: &Assignment) -> usize {
    let base = tasks.len() / workers.len();
    let extra = tasks.len() % workers.len();
    let mut holding: BTreeMap<WorkerId, usize> = BTreeMap::new();
    for task in tasks {
        if let Some(worker) = current.get(task).filter(|w| workers.contains(w)) {
            *holding.entry(*worker).or_default() += 1;
        }
    }
    let kept_base: usize = holding.values().map(|h| (*h).min(base)).sum();
    let could_use_extra = holding.values().filter(|h| **h > base).count();
    tasks.len() - kept_base - could_use_extra.min(extra)
}

proptest! {
    #[test]
    fn balanced_complete_sticky_minimal_stable(
        (tasks, workers, current) in inputs()
    ) {
        let result = assign(&tasks, &workers, &current);
        prop_assert!(result.is_ok());
        let result = result.unwrap_or_default();

        // Every task exactly once, only to live workers.
        prop_assert_eq!(result.keys().copied().collect::<Vec<_>>(), tasks.clone());
        prop_assert!(result.values().all(|w| workers.contains(w)));

        // Balanced: floor or ceil of n/k each.
        let mut counts: BTreeMap<WorkerId, usize> = workers.iter().map(|w| (*w, 0)).collect();
        for worker in result.values() {
            *counts.entry(*worker).or_default() += 1;
        }
        let floor = tasks.len() / workers.len();
        let ceil = tasks.len().div_ceil(workers.len());
        prop_assert!(counts.values().all(|c| *c == floor || *c == ceil), "{:?}", counts);

        // Minimal moves.
        prop_assert_eq!(moves(&current, &result), fewest_moves(&tasks, &workers, &current));

        // Stable when nothing changed, and deterministic.
        let again = assign(&tasks, &workers, &result).unwrap_or_default();
        prop_assert_eq!(&again, &result);
        prop_assert_eq!(moves(&result, &again), 0);
        prop_assert_eq!(assign(&tasks, &workers, &current).unwrap_or_default(), result);
    }
}
