//! Transactional producers of different ids commit at the same time (their I/O overlaps:
//! no global lock is held across it), while takeovers of the same ids and timeout expiry
//! race them, with snapshots written every few records. Whatever the interleaving:
//! - every transaction whose `commit` returned `Ok` is visible to `read_committed`
//!   readers exactly once, and nothing else is (an abort, a fenced or expired one never);
//! - a fenced instance is refused (`Fenced`, or `ProducerFenced` from the partition);
//! - nothing is left open in any partition;
//! - the committed consumer positions answered from memory equal a fresh open's.
//!
//! The seed of the timing jitter comes from `EXACTLY_SEED` (printed).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use common::*;
use exactly_core::{Offset, SystemClock};
use exactly_log::{AppendError, Isolation, Log, LogConfig, TxnError};
use rand::{Rng, SeedableRng};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

const PRODUCERS: u32 = 6;
const ROUNDS: u32 = 60;

fn fenced(e: &TxnError) -> bool {
    matches!(
        e,
        TxnError::Fenced { .. }
            | TxnError::Append(AppendError::ProducerFenced { .. })
            | TxnError::InvalidState { .. }
    )
}

#[test]
fn concurrent_commits_racing_takeovers_stay_exactly_once() {
    let seed = seeds(0xc0c0)[0];
    println!("seed {seed} (rerun with EXACTLY_SEED={seed})");
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        Log::open_with(
            Arc::new(exactly_core::StdStorage),
            Arc::new(SystemClock),
            dir.path(),
            LogConfig::default(),
        )
        .unwrap()
    };
    let log = open();
    log.set_transaction_snapshot_interval(Some(7));
    log.create_topic("out", PRODUCERS).unwrap();
    let committed: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    std::thread::scope(|s| {
        for p in 0..PRODUCERS {
            let (log, committed) = (&log, &committed);
            s.spawn(move || {
                let mut rng = rand::rngs::SmallRng::seed_from_u64(seed ^ u64::from(p));
                let id = format!("id-{p}");
                let mut producer = log.transactional_producer(&id, 60_000).unwrap();
                for round in 0..ROUNDS {
                    let value = format!("{p}-{round}");
                    let attempt = (|| -> Result<bool, TxnError> {
                        producer.begin()?;
                        producer.send("out", p, &[rec(0, None, value.as_bytes())])?;
                        producer.add_offsets(
                            "group",
                            &[("in".to_string(), p, Offset(u64::from(round) + 1))],
                        )?;
                        if rng.random_bool(0.2) {
                            producer.abort()?;
                            return Ok(false);
                        }
                        producer.commit()?;
                        Ok(true)
                    })();
                    match attempt {
                        Ok(true) => {
                            committed.lock().unwrap().insert(value);
                        }
                        Ok(false) => {}
                        Err(e) if fenced(&e) => {
                            // Taken over: continue as the new instance.
                            producer = log.transactional_producer(&id, 60_000).unwrap();
                        }
                        Err(e) => panic!("{id} round {round}: {e}"),
                    }
                }
            });
        }
        // Takeovers racing the producers: a new instance of a random id, dropped at once.
        let log = &log;
        s.spawn(move || {
            let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
            for _ in 0..40 {
                let p = rng.random_range(0..PRODUCERS);
                match log.transactional_producer(&format!("id-{p}"), 60_000) {
                    Ok(zombie_maker) => drop(zombie_maker),
                    Err(e) => panic!("takeover of id-{p}: {e}"),
                }
                log.expire_transactions().unwrap();
                std::thread::sleep(std::time::Duration::from_micros(rng.random_range(0..2000)));
            }
        });
    });
    let committed = committed.into_inner().unwrap();
    let check = |log: &Log| {
        let mut seen = Vec::new();
        for p in 0..PRODUCERS {
            assert!(
                log.partition_info("out", p)
                    .unwrap()
                    .open_transactions
                    .is_empty(),
                "out/{p} left open"
            );
            seen.extend(
                read_all_with(log, "out", p, Isolation::ReadCommitted)
                    .into_iter()
                    .map(|(_, v)| v),
            );
        }
        let unique: BTreeSet<String> = seen.iter().cloned().collect();
        assert_eq!(unique.len(), seen.len(), "a record is visible twice");
        assert_eq!(unique, committed, "visible = committed");
        log.committed_offsets("group").unwrap()
    };
    assert!(!committed.is_empty());
    let from_memory = check(&log);
    log.close().unwrap();
    let log = open();
    let from_scan = check(&log);
    assert_eq!(
        from_memory, from_scan,
        "positions from memory = from a fresh open"
    );
    for p in 0..PRODUCERS {
        let last = committed
            .iter()
            .filter_map(|v| v.strip_prefix(&format!("{p}-")))
            .map(|r| r.parse::<u64>().unwrap() + 1)
            .max();
        assert_eq!(
            from_scan.get(&("in".to_string(), p)).map(|o| o.0),
            last,
            "position of in/{p} is its last committed round"
        );
    }
}
