//! Negative control: the safety tests can fail. Workers configured for a 1 % drift bound
//! run on machines whose clocks run 40–50 % slow, so their self-fencing deadline comes
//! long after the store has let their lease expire and handed the task on. The auditor
//! must catch two workers running one task at once — on most seeds — while the store's
//! epoch fence still keeps commits to one owner per epoch.

use exactly_sim::cluster::{run_cluster, ClusterSimConfig, Violation};

#[test]
fn slow_clocks_beyond_the_bound_are_caught_as_two_running() {
    let seeds = 0..50u64;
    let mut caught = 0;
    for seed in seeds.clone() {
        let config = ClusterSimConfig {
            clock_rate_ppm: (-500_000, -400_000),
            ..ClusterSimConfig::hostile(seed)
        };
        let Ok(report) = run_cluster(&config) else {
            panic!("{}: the configuration must run", config.replay_hint());
        };
        let two_running = report
            .violations
            .iter()
            .any(|v| matches!(v, Violation::TwoRunning { .. }));
        caught += usize::from(two_running);
        // Commits stay fenced by the store whatever the clocks do.
        assert!(
            report
                .violations
                .iter()
                .all(|v| matches!(v, Violation::TwoRunning { .. })),
            "{}: {:?}",
            config.replay_hint(),
            report.violations
        );
    }
    assert!(
        caught * 2 > seeds.clone().count(),
        "the auditor caught overlapping owners on only {caught} of {} seeds",
        seeds.count()
    );
}

#[test]
fn the_same_runs_within_the_bound_are_clean() {
    for seed in 0..50u64 {
        let config = ClusterSimConfig::hostile(seed);
        let Ok(report) = run_cluster(&config) else {
            panic!("{}: the configuration must run", config.replay_hint());
        };
        assert!(
            report.is_safe(),
            "{}: {:?}",
            config.replay_hint(),
            report.violations
        );
    }
}
