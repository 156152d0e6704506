//! Key-group ranges tile the key space for every parallelism and agree with
//! `task_for_key_group`: every key group has exactly one owning task.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use exactly_engine::{task_for_key_group, KeyGroupRange};
use proptest::prelude::*;

proptest! {
    #[test]
    fn ranges_tile_the_key_groups(key_groups in 1u32..512, parallelism in 1u32..64) {
        let mut owners = vec![0u32; key_groups as usize];
        for task in 0..parallelism {
            let range = KeyGroupRange::for_task(task, key_groups, parallelism);
            for group in range.0.clone() {
                owners[group as usize] += 1;
                prop_assert_eq!(task_for_key_group(group, key_groups, parallelism), task);
            }
        }
        prop_assert!(owners.iter().all(|n| *n == 1), "every group has exactly one owner");
    }

}
