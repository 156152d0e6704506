//! Windows fire by clock: `window-count` follows its input and is stopped once it has read
//! everything. Its last checkpoint did not close windows (the input did not end), so the
//! output holds exactly the windows whose end the job's clock had passed — each once, with
//! its reference count — and none of the others. A bounded run then ends the input: the
//! remaining windows are emitted, and over both runs every window appears exactly once.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use exactly_engine::jobs::window_count;
use exactly_engine::{Guarantee, RunOptions};
use exactly_log::{Log, LogConfig};
use std::sync::atomic::Ordering;

const WINDOW_MS: i64 = 250;

#[test]
fn window_count_fires_by_clock() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogConfig::default()).unwrap();
    let transfers = common::write_transfers(&log, "transfers", 3, 11, 5_000, 40);
    let reference = common::reference_windows(&transfers, WINDOW_MS);
    let job = window_count("transfers", "windows", WINDOW_MS);

    let mut options = RunOptions::new(&log, &job, Guarantee::ExactlyOnce);
    options.parallelism = 2;
    options.follow = true;
    options.checkpoint_interval_ms = 20;
    let (stop, status) = (options.stop.clone(), options.status.clone());
    let stopper = std::thread::spawn(move || {
        while status.records_in.load(Ordering::Relaxed) < 5_000 {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        stop.store(true, Ordering::SeqCst);
    });
    let report = job.run(&log, &options).unwrap();
    stopper.join().unwrap();
    let clock = report.clock.0;
    assert!(clock > i64::MIN && clock < i64::MAX, "clock {clock}");

    let emitted = common::windows(&log, "windows");
    assert!(
        !emitted.is_empty(),
        "no window fired before the input ended"
    );
    for ((key, start), (end, count, times)) in &emitted {
        assert_eq!(*times, 1, "window {key}@{start} emitted {times} times");
        assert!(
            *end <= clock,
            "window {key}@{start} ending {end} fired before the clock {clock}"
        );
        assert_eq!(
            reference[&(key.clone(), *start)],
            (*end, *count),
            "window {key}@{start}"
        );
    }
    for ((key, start), (end, _)) in &reference {
        if *end <= clock {
            assert!(
                emitted.contains_key(&(key.clone(), *start)),
                "window {key}@{start} ending {end} ≤ clock {clock} did not fire"
            );
        }
    }
    assert!(
        emitted.len() < reference.len(),
        "windows past the clock fired early"
    );

    options.follow = false;
    options.stop.store(false, Ordering::SeqCst);
    job.run(&log, &options).unwrap();
    let all = common::windows(&log, "windows");
    let counts: std::collections::BTreeMap<_, _> = all
        .iter()
        .map(|(k, (end, count, times))| {
            assert_eq!(*times, 1, "window {k:?} emitted {times} times");
            (k.clone(), (*end, *count))
        })
        .collect();
    assert_eq!(counts, reference);
}
