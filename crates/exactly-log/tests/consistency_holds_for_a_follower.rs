//! A read-only follower's state stays consistent (`Log::check_consistency`) while the owner
//! appends and rolls segments under it, and a `Log::scan` of the follower stops at what it
//! saw when the scan was created.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use common::*;
use exactly_log::{Durability, Isolation, Log, LogConfig, WriteScope};

fn config() -> LogConfig {
    LogConfig {
        durability: Durability::None,
        segment_bytes_max: 4096,
        batch_bytes_max: 4096,
        ..LogConfig::default()
    }
}

#[test]
fn a_follower_stays_consistent_while_the_owner_writes() {
    let temp = tempfile::tempdir().unwrap();
    let owner = Log::open_scoped(temp.path(), config(), WriteScope::topics(["t"])).unwrap();
    owner.create_topic("t", 1).unwrap();
    owner
        .append("t", 0, &[rec(0, None, b"first")], None)
        .unwrap();
    owner.flush().unwrap();
    let follower = Log::open_read_only(temp.path(), config()).unwrap();
    follower.check_consistency().unwrap();
    for step in 1..120 {
        owner
            .append("t", 0, &[rec(step, None, &[b'x'; 200])], None)
            .unwrap();
        owner.check_consistency().unwrap();
        let written = owner.partition_info("t", 0).unwrap().end_offset;
        let seen = follower.partition_info("t", 0).unwrap();
        assert!(seen.end_offset <= written, "{seen:?} vs {written}");
        follower.check_consistency().unwrap();
    }
    let seen = follower.partition_info("t", 0).unwrap();
    assert!(
        seen.segments > 3,
        "the owner rolled under the follower: {seen:?}"
    );

    let scan = follower
        .scan("t", 0, seen.start_offset, Isolation::ReadUncommitted)
        .unwrap();
    let end = scan.end();
    owner
        .append("t", 0, &[rec(500, None, b"after")], None)
        .unwrap();
    let offsets: Vec<u64> = scan.map(|r| r.unwrap().offset.0).collect();
    assert_eq!(offsets, (seen.start_offset.0..end.0).collect::<Vec<_>>());
    follower.check_consistency().unwrap();
}
