//! The connection lost at the moment a checkpoint commits: the test kills the store's
//! backend with `pg_terminate_backend` right before `COMMIT`, or a few hundred
//! microseconds after it is sent (racing the commit itself), or loses the reply of a
//! `COMMIT` the server performed. Whatever `write` returns, a fresh reader restores the
//! old or the new checkpoint byte for byte — never a torn one — and an `Ok` always means
//! the new one; a lost reply is resolved by reading back (it reports success and stores
//! the checkpoint once). 40 writes (`EXACTLY_PG_CUTS` for more), seed printed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::checkpoint_common;

use checkpoint_common::{
    checkpoint, config, pg_url, reader, seed, terminate, unique_schema, DropSchema,
};
use exactly_endpoint::serve::ReconnectPolicy;
use exactly_postgres::{CommitFault, PostgresCheckpointStore};
use exactly_state::CheckpointStorage;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    None,
    KillBeforeCommit,
    KillRacingCommit,
    LoseReply,
}

#[test]
fn commit_connection_lost_never_tears() {
    let url = pg_url("pg_checkpoint_commit_connection_lost");
    let schema = unique_schema("cut");
    let _drop = DropSchema {
        url: url.clone(),
        schema: schema.clone(),
    };
    let seed = seed();
    let writes: u64 = std::env::var("EXACTLY_PG_CUTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut cfg = config(&url, &schema, "job");
    // Two attempts: a fault on both fails the write, so failures are exercised too.
    cfg.reconnect = ReconnectPolicy {
        attempts_max: 2,
        backoff_initial_ms: 1,
        backoff_max_ms: 5,
    };
    let store = PostgresCheckpointStore::connect(&cfg).unwrap();
    let plan: Arc<Mutex<Vec<Fault>>> = Arc::new(Mutex::new(Vec::new()));
    let hook_plan = plan.clone();
    let hook_url = url.clone();
    let hook_rng = Arc::new(Mutex::new(SmallRng::seed_from_u64(seed ^ 0x5eed)));
    store
        .set_commit_hook(Some(Box::new(move |pid| {
            let fault = hook_plan.lock().unwrap().pop().unwrap_or(Fault::None);
            match fault {
                Fault::None => CommitFault::None,
                Fault::LoseReply => CommitFault::LoseReply,
                Fault::KillBeforeCommit => {
                    terminate(&hook_url, pid);
                    CommitFault::None
                }
                Fault::KillRacingCommit => {
                    let delay_us = hook_rng.lock().unwrap().random_range(0..600);
                    let url = hook_url.clone();
                    std::thread::spawn(move || {
                        std::thread::sleep(Duration::from_micros(delay_us));
                        terminate(&url, pid);
                    });
                    CommitFault::None
                }
            }
        })))
        .unwrap();

    let mut committed: Option<u64> = None;
    let (mut oks, mut errors) = (0, 0);
    let mut next_id = 1;
    for _ in 0..writes {
        let faults = [
            Fault::None,
            Fault::KillBeforeCommit,
            Fault::KillRacingCommit,
            Fault::LoseReply,
        ];
        // One or two faults for this write's attempts (popped from the end).
        let first = faults[rng.random_range(0..4)];
        let second = faults[rng.random_range(0..4)];
        *plan.lock().unwrap() = vec![second, first];
        let id = next_id;
        let written = checkpoint(id, 3000 + (id as usize % 7) * 1000);
        let result = store.write(&written);
        // Let a racing kill land before looking.
        std::thread::sleep(Duration::from_millis(2));
        let restored = reader(&url, &schema, "job").latest().unwrap();
        assert!(
            restored.skipped.is_empty(),
            "seed {seed}: {:?}",
            restored.skipped
        );
        let found = restored.checkpoint.map(|c| c.id);
        match &result {
            Ok(()) => {
                oks += 1;
                assert_eq!(found, Some(id), "seed {seed}: an Ok write must be restored");
            }
            Err(error) => {
                errors += 1;
                println!("write {id} failed ({first:?}, {second:?}): {error}");
                assert!(
                    found == committed || found == Some(id),
                    "seed {seed}: restored {found:?}, expected {committed:?} or {id}"
                );
            }
        }
        if let Some(found) = found {
            let loaded = reader(&url, &schema, "job").load(found).unwrap();
            assert_eq!(
                loaded,
                checkpoint(found, 3000 + (found as usize % 7) * 1000)
            );
        }
        if found == Some(id) {
            committed = Some(id);
            next_id += 1;
        } else if result.is_err() {
            // Not stored: the same id is written again, as the engine's next run would.
        }
    }
    println!("{oks} writes returned Ok, {errors} failed; newest {committed:?}");
    assert!(oks > 0 && committed.is_some(), "seed {seed}");
}
