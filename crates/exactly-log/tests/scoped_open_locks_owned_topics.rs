//! Write scopes: a process owns the topics of its scope and follows the others. Two owners
//! of one topic must be refused (naming the topic), a whole-log writer must exclude every
//! scoped writer and be excluded by any, and a scoped writer must see what another scoped
//! writer appends to a topic it follows (without being able to write it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use exactly_core::{Offset, Timestamp};
use exactly_log::{AppendError, Log, LogConfig, OpenError, Record, TopicError, WriteScope};

fn record(value: &str) -> Record {
    Record {
        timestamp: Timestamp(1),
        key: None,
        value: value.as_bytes().to_vec(),
    }
}

fn scope(topics: &[&str]) -> WriteScope {
    WriteScope::topics(topics.iter().copied())
}

#[test]
fn second_owner_of_a_topic_is_refused_naming_it() {
    let temp = tempfile::tempdir().unwrap();
    let first = Log::open_scoped(temp.path(), LogConfig::default(), scope(&["a", "b"])).unwrap();
    first.create_topic("a", 1).unwrap();
    let refused = Log::open_scoped(temp.path(), LogConfig::default(), scope(&["c", "b"]));
    match refused {
        Err(OpenError::TopicLocked { topic, .. }) => assert_eq!(topic, "b"),
        other => panic!("expected TopicLocked for 'b', got {other:?}"),
    }
    // Disjoint scopes live side by side.
    let other = Log::open_scoped(temp.path(), LogConfig::default(), scope(&["c"])).unwrap();
    other.create_topic("c", 1).unwrap();
    drop((first, other));
    // Locks end with the handles.
    Log::open_scoped(temp.path(), LogConfig::default(), scope(&["b"])).unwrap();
}

#[test]
fn whole_log_writer_and_scoped_writers_exclude_each_other() {
    let temp = tempfile::tempdir().unwrap();
    let scoped = Log::open_scoped(temp.path(), LogConfig::default(), scope(&["a"])).unwrap();
    assert!(matches!(
        Log::open(temp.path(), LogConfig::default()),
        Err(OpenError::Locked { .. })
    ));
    drop(scoped);
    let whole = Log::open(temp.path(), LogConfig::default()).unwrap();
    assert!(matches!(
        Log::open_scoped(temp.path(), LogConfig::default(), scope(&["a"])),
        Err(OpenError::Locked { .. })
    ));
    drop(whole);
}

#[test]
fn scoped_writer_follows_topics_it_does_not_own() {
    let temp = tempfile::tempdir().unwrap();
    let writer = Log::open_scoped(temp.path(), LogConfig::default(), scope(&["in"])).unwrap();
    writer.create_topic("in", 1).unwrap();
    writer.append("in", 0, &[record("one")], None).unwrap();
    let follower = Log::open_scoped(temp.path(), LogConfig::default(), scope(&["out"])).unwrap();
    assert!(!follower.owns_topic("in"));
    assert!(matches!(
        follower.append("in", 0, &[record("x")], None),
        Err(AppendError::NotOwned { .. })
    ));
    assert!(matches!(
        follower.create_topic("elsewhere", 1),
        Err(TopicError::NotOwned { .. })
    ));
    // Appended after the follower opened: it must see it.
    writer.append("in", 0, &[record("two")], None).unwrap();
    let values: Vec<Vec<u8>> = follower
        .read("in", 0, Offset(0), 10)
        .unwrap()
        .into_iter()
        .map(|r| r.value)
        .collect();
    assert_eq!(values, vec![b"one".to_vec(), b"two".to_vec()]);
}
