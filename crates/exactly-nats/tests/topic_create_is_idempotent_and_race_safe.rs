//! Creating a topic twice returns the same topic; two creators racing with different
//! partition counts: exactly one wins, the other gets a typed conflict; a process that did
//! not create the topic discovers its partitions and options from the metadata alone.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use exactly_nats::{NatsError, NatsLog, TopicOptions};
use std::sync::{Arc, Barrier};

fn race_and_discover(url: &str) {
    let log = NatsLog::connect(url).unwrap();
    let name = common::unique_topic("create");
    let options = TopicOptions::default();
    let first = log.create_topic(&name, 3, options.clone()).unwrap();
    let again = log.create_topic(&name, 3, options.clone()).unwrap();
    assert_eq!(first, again, "creating the same topic twice is idempotent");

    // A fresh connection that never created the topic finds it.
    let reader = NatsLog::connect(url).unwrap();
    let found = reader.open_topic(&name).unwrap();
    assert_eq!(found.partitions(), 3);
    assert_eq!(found.meta().options, options);
    assert!(matches!(
        reader.open_topic(&common::unique_topic("absent")),
        Err(NatsError::TopicNotFound { .. })
    ));

    // Racing creators with different partition counts, each on its own connection.
    for round in 0..5 {
        let raced = format!("{name}.race{round}");
        let barrier = Arc::new(Barrier::new(2));
        let handles: Vec<_> = [2u32, 5u32]
            .into_iter()
            .map(|partitions| {
                let (url, raced, barrier) = (url.to_string(), raced.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let log = NatsLog::connect(&url).unwrap();
                    barrier.wait();
                    log.create_topic(&raced, partitions, TopicOptions::default())
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(
            winners.len(),
            1,
            "round {round}: one winner, got {results:?}"
        );
        let loser = results.iter().find_map(|r| r.as_ref().err()).unwrap();
        assert!(
            matches!(loser, NatsError::TopicConflict { .. }),
            "round {round}: the loser gets a typed conflict, got {loser}"
        );
        // An independent reader sees the winner's partition count, and every stream exists.
        let seen = reader.open_topic(&raced).unwrap();
        assert_eq!(seen.partitions(), winners[0].partitions());
        for partition in 0..seen.partitions() {
            assert_eq!(
                reader.partition_state(&seen, partition).unwrap().last_seq,
                0
            );
        }
    }

    // Other options are a conflict too, not a silent reuse.
    let other = TopicOptions {
        duplicate_window_ms: 1_000,
        ..TopicOptions::default()
    };
    assert!(matches!(
        log.create_topic(&name, 3, other),
        Err(NatsError::TopicConflict { .. })
    ));

    // Deleting removes every stream (tests leave the shared server clean).
    for topic in std::iter::once(name.clone()).chain((0..5).map(|r| format!("{name}.race{r}"))) {
        let opened = log.open_topic(&topic).unwrap();
        log.delete_topic(&opened).unwrap();
        assert!(matches!(
            log.open_topic(&topic),
            Err(NatsError::TopicNotFound { .. })
        ));
    }
}

#[test]
fn on_a_sync_always_node() {
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = common::single_node(dir.path()) else {
        return;
    };
    race_and_discover(&server.url());
}

#[test]
fn on_the_machines_2_9_server() {
    let Some(url) = common::machine_nats() else {
        return;
    };
    race_and_discover(&url);
}
