//! Keys → key groups → tasks. A job has a fixed number of key groups (its maximum
//! parallelism); each task owns a contiguous range of them. Rescaling moves whole key
//! groups between tasks, so keyed state is split and merged by group, never re-hashed.

use std::ops::Range;

/// The key group of `key`: `xxh3(key) mod key_groups`.
pub fn key_group(key: &[u8], key_groups: u32) -> u32 {
    key_group_of_hash(xxhash_rust::xxh3::xxh3_64(key), key_groups)
}

/// The key group of a key whose `xxh3` is `hash` (for callers that keep the hash).
pub fn key_group_of_hash(hash: u64, key_groups: u32) -> u32 {
    (hash % u64::from(key_groups.max(1))) as u32
}

/// The task (of `parallelism`) owning key group `group` (of `key_groups`).
pub fn task_for_key_group(group: u32, key_groups: u32, parallelism: u32) -> u32 {
    let (groups, tasks) = (u64::from(key_groups.max(1)), u64::from(parallelism.max(1)));
    (u64::from(group.min(key_groups.saturating_sub(1))) * tasks / groups) as u32
}

/// The contiguous key groups a task owns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyGroupRange(pub Range<u32>);

impl KeyGroupRange {
    /// The range of task `task` of `parallelism` over `key_groups` groups.
    pub fn for_task(task: u32, key_groups: u32, parallelism: u32) -> Self {
        let (groups, tasks) = (u64::from(key_groups.max(1)), u64::from(parallelism.max(1)));
        let start = (u64::from(task) * groups).div_ceil(tasks);
        let end = ((u64::from(task) + 1) * groups).div_ceil(tasks);
        KeyGroupRange(start as u32..end.min(groups) as u32)
    }

    /// Whether the task owns `group`.
    pub fn contains(&self, group: u32) -> bool {
        self.0.contains(&group)
    }
}
