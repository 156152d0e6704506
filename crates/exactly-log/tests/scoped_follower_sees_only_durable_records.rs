//! A scoped writer follows the topics it does not own; a follow job commits what it reads
//! from them, so it must never read a record its owner has not made durable (an OS crash
//! could take it back after the job has committed its effects). Followed partitions are
//! clamped to the owner's durable-end evidence; a plain read-only follower
//! (`open_read_only`) still sees everything written, which is the contrast checked here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use exactly_core::{Offset, Timestamp};
use exactly_log::{Durability, Log, LogConfig, Record, WriteScope};

fn record(value: &str) -> Record {
    Record {
        timestamp: Timestamp(1),
        key: None,
        value: value.as_bytes().to_vec(),
    }
}

fn values(log: &Log) -> Vec<String> {
    log.read("in", 0, Offset(0), 100)
        .unwrap()
        .into_iter()
        .map(|r| String::from_utf8(r.value).unwrap())
        .collect()
}

#[test]
fn followed_topics_show_only_what_their_owner_synced() {
    let temp = tempfile::tempdir().unwrap();
    let unsynced = LogConfig {
        durability: Durability::None,
        ..LogConfig::default()
    };
    let owner = Log::open_scoped(temp.path(), unsynced, WriteScope::topics(["in"])).unwrap();
    owner.create_topic("in", 1).unwrap();
    owner.append("in", 0, &[record("synced")], None).unwrap();
    owner.flush().unwrap();
    owner.append("in", 0, &[record("unsynced")], None).unwrap();

    let job = Log::open_scoped(
        temp.path(),
        LogConfig::default(),
        WriteScope::topics(["out"]),
    )
    .unwrap();
    let raw = Log::open_read_only(temp.path(), LogConfig::default()).unwrap();
    assert_eq!(
        values(&raw),
        vec!["synced", "unsynced"],
        "the data is on disk"
    );
    assert_eq!(
        values(&job),
        vec!["synced"],
        "a job must not see unsynced input"
    );
    assert!(!job
        .wait_for("in", 0, Offset(1), std::time::Duration::from_millis(50))
        .unwrap());

    owner.append("in", 0, &[record("later")], None).unwrap();
    owner.flush().unwrap();
    assert_eq!(values(&job), vec!["synced", "unsynced", "later"]);
}
