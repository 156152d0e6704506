//! After the hostile fault phase ends (links perfect, paused workers resumed, crashed
//! ones restarted), the cluster settles within the stated bound — every task running on
//! exactly one live worker, ⌊n/k⌋ or ⌈n/k⌉ each — and stays settled to the end of the
//! run. `EXACTLY_SEEDS=N` sweeps N seeds.

#![allow(clippy::panic, clippy::indexing_slicing)] // Tests fail by panicking.

use exactly_sim::cluster::{run_cluster, ClusterSimConfig, HEAL_BOUND_MS};
use exactly_sim::seeds::seeds;

#[test]
fn every_task_runs_once_balanced_within_the_bound_on_every_seed() {
    let all: Vec<u64> = seeds(1000).collect();
    let slowest_ms = std::thread::scope(|scope| {
        let handles: Vec<_> = all
            .chunks(all.len().div_ceil(2).max(1))
            .map(|chunk| scope.spawn(move || sweep(chunk)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .max()
            .unwrap_or(0)
    });
    println!("slowest settling after the heal: {slowest_ms} ms (bound {HEAL_BOUND_MS} ms)");
}

/// The slowest settling time among `seeds`.
fn sweep(seeds: &[u64]) -> u64 {
    let mut slowest_ms = 0;
    for &seed in seeds {
        // Several worker counts, including more workers than tasks.
        let config = ClusterSimConfig {
            workers: 2 + (seed % 5) as usize,
            tasks: [1, 5, 10, 12][(seed % 4) as usize],
            ..ClusterSimConfig::hostile(seed)
        };
        let report = run_cluster(&config)
            .unwrap_or_else(|e| panic!("{}: cannot run: {e}", config.replay_hint()));
        assert!(
            report.is_live(),
            "{}: settled {:?} ms after the heal (bound {} ms); {:?}",
            config.replay_hint(),
            report.settled_after_heal_ms,
            report.heal_bound_ms,
            report.counts
        );
        assert!(
            report.is_safe(),
            "{}: {:?}",
            config.replay_hint(),
            report.violations
        );
        slowest_ms = slowest_ms.max(report.settled_after_heal_ms.unwrap_or(0));
    }
    slowest_ms
}
