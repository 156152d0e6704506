//! A child that never finishes by itself: every run of the kill phase is killed, so the
//! loop stops after exactly the wanted number of kills, one run per kill.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use exactly_testkit::KillLoop;
use std::process::Command;
use std::time::Duration;

#[test]
fn every_run_is_killed_and_the_loop_stops_at_the_wanted_kills() {
    let seed = exactly_testkit::cli::seed_from_env();
    println!("seed {seed}");
    let report = KillLoop::new(4, seed)
        .delay_ms(5..20)
        .kill_runs(|| {
            let mut sleep = Command::new("sleep");
            sleep.arg("30");
            sleep
        })
        .unwrap();
    assert_eq!(report.kills, 4);
    assert_eq!(report.runs, 4);
    assert!(report.wall >= Duration::from_millis(20), "{report:?}");
    assert!(report.wall < Duration::from_secs(10), "{report:?}");
}
