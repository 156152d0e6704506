//! A child that finishes before its kill moment: `run_to_completion` lets it finish,
//! returns its output and counts no kill; `kill_runs` counts no kill and stops at the bound
//! on runs; a final run that fails is reported as a failure with its standard error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use exactly_testkit::{KillLoop, KillLoopError};
use std::process::{Command, Stdio};

fn shell(script: &str) -> Command {
    let mut command = Command::new("sh");
    command
        .args(["-c", script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

#[test]
fn a_run_that_exits_first_is_the_final_one_and_its_output_is_returned() {
    let mut seen = Vec::new();
    let finished = KillLoop::new(3, 7)
        .delay_ms(2_000..3_000)
        .run_to_completion(|| shell("echo done"), |so_far| seen.push(so_far.runs))
        .unwrap();
    assert_eq!(finished.kills, 0);
    assert_eq!(finished.runs, 1);
    assert_eq!(seen, vec![1]);
    assert_eq!(String::from_utf8_lossy(&finished.output.stdout), "done\n");
}

#[test]
fn kills_land_first_then_the_next_run_finishes() {
    let finished = KillLoop::new(2, 11)
        .delay_ms(20..40)
        .run_to_completion(|| shell("sleep 0.3; echo late"), |_| {})
        .unwrap();
    assert_eq!(finished.kills, 2);
    assert_eq!(finished.runs, 3);
    assert_eq!(String::from_utf8_lossy(&finished.output.stdout), "late\n");
}

#[test]
fn the_kill_phase_is_bounded_when_runs_do_not_last() {
    let report = KillLoop::new(5, 3)
        .runs_max(4)
        .delay_ms(2_000..3_000)
        .kill_runs(|| shell("true"))
        .unwrap();
    assert_eq!(report.kills, 0);
    assert_eq!(report.runs, 4);
}

#[test]
fn a_failing_final_run_is_an_error_with_its_stderr() {
    let error = KillLoop::new(0, 1)
        .run_to_completion(|| shell("echo broken >&2; exit 3"), |_| {})
        .unwrap_err();
    match error {
        KillLoopError::Failed { status, stderr } => {
            assert_eq!(status.code(), Some(3));
            assert_eq!(stderr, "broken");
        }
        other => panic!("unexpected error {other}"),
    }
}
