//! Task leases under the hostile cluster run — 20 % loss, duplication, reordering past
//! the retry interval, crashes, pauses longer than a lease (zombies), partitions longer
//! than a lease, clocks drifting anywhere within the bound: the auditor finds (a) one
//! committer per (task, epoch) with epochs never going down, and (b) never two workers
//! running one task at once. `EXACTLY_SEEDS=N` sweeps N seeds.

#![allow(clippy::panic)] // Tests fail by panicking.

use exactly_sim::cluster::{run_cluster, ClusterCounts, ClusterSimConfig};
use exactly_sim::seeds::seeds;

#[test]
fn one_owner_per_epoch_and_never_two_running_on_every_seed() {
    let all: Vec<u64> = seeds(1000).collect();
    let totals = std::thread::scope(|scope| {
        let handles: Vec<_> = all
            .chunks(all.len().div_ceil(2).max(1))
            .map(|chunk| scope.spawn(move || sweep(chunk)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .fold(ClusterCounts::default(), add)
    });
    if all.len() >= 20 {
        // The run really is hostile: every fault and every way of stopping happened.
        assert!(totals.crashes > 0 && totals.pauses > 0 && totals.partitions > 0);
        assert!(totals.messages_lost > 0 && totals.messages_duplicated > 0);
        assert!(totals.self_fenced > 0 && totals.zombies_fenced > 0 && totals.reassigned > 0);
        assert!(totals.commits_accepted > 0 && totals.commits_refused > 0);
    }
}

fn sweep(seeds: &[u64]) -> ClusterCounts {
    let mut totals = ClusterCounts::default();
    for &seed in seeds {
        let config = ClusterSimConfig::hostile(seed);
        let report = run_cluster(&config)
            .unwrap_or_else(|e| panic!("{}: cannot run: {e}", config.replay_hint()));
        assert!(
            report.is_safe(),
            "{}: {:?}",
            config.replay_hint(),
            report.violations
        );
        totals = add(totals, report.counts);
    }
    totals
}

fn add(a: ClusterCounts, b: ClusterCounts) -> ClusterCounts {
    ClusterCounts {
        commits_accepted: a.commits_accepted + b.commits_accepted,
        commits_refused: a.commits_refused + b.commits_refused,
        starts: a.starts + b.starts,
        self_fenced: a.self_fenced + b.self_fenced,
        zombies_fenced: a.zombies_fenced + b.zombies_fenced,
        lost: a.lost + b.lost,
        reassigned: a.reassigned + b.reassigned,
        crashes: a.crashes + b.crashes,
        pauses: a.pauses + b.pauses,
        partitions: a.partitions + b.partitions,
        messages_lost: a.messages_lost + b.messages_lost,
        messages_duplicated: a.messages_duplicated + b.messages_duplicated,
        coordinator_epoch: a.coordinator_epoch + b.coordinator_epoch,
        assignment_version: a.assignment_version + b.assignment_version,
    }
}
