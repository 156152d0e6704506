//! Replays never emit a window twice: `window-count` runs exactly-once on simulated storage,
//! the machine crashes at a seed-chosen storage mutation (and on odd seeds again during
//! recovery), and the job runs to the end. Every window must then appear exactly once in
//! the committed output with its reference count. `EXACTLY_SEEDS` / `EXACTLY_SEED` as in
//! the other sweeps (default 200 seeds).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use common::sim;
use exactly_core::SimStorage;
use exactly_engine::jobs::window_count;
use exactly_engine::SinkMode;

const WINDOW_MS: i64 = 40;

#[test]
fn window_count_crash_never_emits_twice() {
    let job = window_count("transfers", "windows", WINDOW_MS);
    let mut recovered = 0;
    for seed in sim::seeds(200) {
        let storage = SimStorage::new(seed);
        let transfers = {
            let log = sim::open(&storage).unwrap();
            common::write_transfers(&log, "transfers", 2, seed, 300, 6)
        };
        let report = sim::crash_and_recover(&storage, &job, seed, SinkMode::Transactional);
        if std::env::var("EXACTLY_VERBOSE").is_ok() {
            eprintln!("seed {seed}: {report:?}");
        }
        if report.is_some() {
            recovered += 1;
        }
        let log = sim::open(&storage).unwrap();
        let emitted = common::windows(&log, "windows");
        for (window, (_, _, times)) in &emitted {
            assert_eq!(
                *times, 1,
                "seed {seed}: window {window:?} emitted {times} times"
            );
        }
        let counts: std::collections::BTreeMap<_, _> = emitted
            .into_iter()
            .map(|(k, (end, count, _))| (k, (end, count)))
            .collect();
        assert_eq!(
            counts,
            common::reference_windows(&transfers, WINDOW_MS),
            "seed {seed}"
        );
    }
    assert!(recovered > 0);
}
