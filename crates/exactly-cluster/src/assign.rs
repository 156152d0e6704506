//! Sticky, balanced assignment of a job's tasks to its live workers, as a pure function.
//!
//! Balanced: with `n` tasks and `k` workers every worker gets `⌊n/k⌋` or `⌈n/k⌉` tasks.
//! Sticky: a task stays with its current worker unless balance needs it elsewhere, and the
//! number of tasks that change worker is the least any balanced assignment allows.
//! Deterministic: ties are broken by ids, so every coordinator computes the same answer
//! from the same inputs (and an unchanged membership yields the unchanged assignment).

use crate::ids::{TaskId, WorkerId};
use std::collections::{BTreeMap, BTreeSet};
use thiserror::Error;

/// Which worker each task is assigned to.
pub type Assignment = BTreeMap<TaskId, WorkerId>;

/// Inputs [`assign`] cannot work with.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AssignError {
    /// There is no live worker to assign to.
    #[error("no live worker to assign {tasks} tasks to")]
    NoWorkers {
        /// How many tasks were waiting.
        tasks: usize,
    },
    /// The task list names a task twice.
    #[error("task {task} is listed twice")]
    DuplicateTask {
        /// The repeated task.
        task: TaskId,
    },
}

/// Assigns every task in `tasks` to one of `workers`, keeping as much of `current` as
/// balance allows. Entries of `current` for tasks outside `tasks` or for workers outside
/// `workers` are ignored (those tasks are reassigned).
pub fn assign(
    tasks: &[TaskId],
    workers: &BTreeSet<WorkerId>,
    current: &Assignment,
) -> Result<Assignment, AssignError> {
    let tasks = task_set(tasks)?;
    if workers.is_empty() {
        return Err(AssignError::NoWorkers { tasks: tasks.len() });
    }
    let held = held_by_live(&tasks, workers, current);
    let caps = capacities(tasks.len(), &held);
    let mut result = Assignment::new();
    for (worker, held_tasks) in &held {
        let cap = match caps.get(worker) {
            Some(cap) => *cap,
            // `capacities` gives every worker of `held` a capacity.
            None => 0,
        };
        for task in held_tasks.iter().take(cap) {
            result.insert(*task, *worker);
        }
    }
    fill(&tasks, &caps, &mut result);
    debug_assert_eq!(
        result.len(),
        tasks.len(),
        "capacities sum to the task count"
    );
    Ok(result)
}

/// How many tasks changed worker between `before` and `after` (a task new in `after`
/// counts as moved).
pub fn moves(before: &Assignment, after: &Assignment) -> usize {
    after
        .iter()
        .filter(|(task, worker)| before.get(task) != Some(worker))
        .count()
}

fn task_set(tasks: &[TaskId]) -> Result<BTreeSet<TaskId>, AssignError> {
    let mut set = BTreeSet::new();
    for task in tasks {
        if !set.insert(*task) {
            return Err(AssignError::DuplicateTask { task: *task });
        }
    }
    Ok(set)
}

/// Each live worker's currently assigned tasks, ascending (every live worker present).
fn held_by_live(
    tasks: &BTreeSet<TaskId>,
    workers: &BTreeSet<WorkerId>,
    current: &Assignment,
) -> BTreeMap<WorkerId, Vec<TaskId>> {
    let mut held: BTreeMap<WorkerId, Vec<TaskId>> =
        workers.iter().map(|worker| (*worker, Vec::new())).collect();
    for task in tasks {
        if let Some(list) = current.get(task).and_then(|worker| held.get_mut(worker)) {
            list.push(*task);
        }
    }
    held
}

/// Each worker's number of tasks: `⌊n/k⌋`, plus one for `n mod k` workers. The extra
/// places go to the workers holding the most tasks now (ties: lower id), because only a
/// worker holding more than `⌊n/k⌋` keeps one more task by getting one: this is what
/// makes the number of moves the least possible.
fn capacities(
    task_count: usize,
    held: &BTreeMap<WorkerId, Vec<TaskId>>,
) -> BTreeMap<WorkerId, usize> {
    let worker_count = held.len().max(1);
    let base = task_count / worker_count;
    let extra = task_count % worker_count;
    let mut by_holding: Vec<(usize, WorkerId)> = held
        .iter()
        .map(|(worker, list)| (list.len(), *worker))
        .collect();
    by_holding.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    by_holding
        .iter()
        .enumerate()
        .map(|(rank, (_, worker))| (*worker, base + usize::from(rank < extra)))
        .collect()
}

/// Gives every unassigned task, ascending, to the workers below capacity, by worker id.
fn fill(tasks: &BTreeSet<TaskId>, caps: &BTreeMap<WorkerId, usize>, result: &mut Assignment) {
    let mut counts: BTreeMap<WorkerId, usize> = caps.keys().map(|worker| (*worker, 0)).collect();
    for worker in result.values() {
        if let Some(count) = counts.get_mut(worker) {
            *count += 1;
        }
    }
    let mut open = caps
        .iter()
        .filter_map(|(worker, cap)| {
            let count = match counts.get(worker) {
                Some(count) => *count,
                // `counts` has every worker of `caps`.
                None => 0,
            };
            (count < *cap).then_some((*worker, cap - count))
        })
        .flat_map(|(worker, room)| std::iter::repeat_n(worker, room));
    for task in tasks {
        if result.contains_key(task) {
            continue;
        }
        // The capacities sum to the task count and every kept task used one place, so
        // there is exactly one open place per unassigned task.
        if let Some(worker) = open.next() {
            result.insert(*task, worker);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: u32) -> Vec<TaskId> {
        (0..n).map(TaskId).collect()
    }

    fn workers(list: &[u64]) -> BTreeSet<WorkerId> {
        list.iter().map(|w| WorkerId(*w)).collect()
    }

    #[test]
    fn spreads_evenly_from_nothing() {
        let result = assign(&ids(7), &workers(&[1, 2, 3]), &Assignment::new());
        let result = result.unwrap_or_default();
        let mut counts = BTreeMap::new();
        for worker in result.values() {
            *counts.entry(*worker).or_insert(0) += 1;
        }
        assert_eq!(counts.values().copied().collect::<Vec<_>>(), vec![3, 2, 2]);
    }

    #[test]
    fn a_joining_worker_takes_only_its_share() {
        let before = assign(&ids(6), &workers(&[1, 2]), &Assignment::new()).unwrap_or_default();
        let after = assign(&ids(6), &workers(&[1, 2, 3]), &before).unwrap_or_default();
        assert_eq!(moves(&before, &after), 2);
    }

    #[test]
    fn rejects_bad_inputs() {
        assert_eq!(
            assign(&ids(2), &BTreeSet::new(), &Assignment::new()),
            Err(AssignError::NoWorkers { tasks: 2 })
        );
        assert_eq!(
            assign(&[TaskId(1), TaskId(1)], &workers(&[1]), &Assignment::new()),
            Err(AssignError::DuplicateTask { task: TaskId(1) })
        );
    }
}
