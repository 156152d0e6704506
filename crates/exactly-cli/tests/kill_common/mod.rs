//! Shared harness of the `kill -9` loops of the `exactly` binary: thin wrappers over
//! `exactly_testkit` bound to the binary under test.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use exactly_testkit::{cli, KillLoop};
use rand::rngs::SmallRng;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The binary under test.
pub const EXE: &str = env!("CARGO_BIN_EXE_exactly");

/// `exactly <args> --dir <dir>` with no standard input.
pub fn exactly(args: &[&str], dir: &Path) -> Command {
    cli::command_in(EXE, args, dir)
}

/// Kills (`EXACTLY_KILLS`, default 50) and seed (`EXACTLY_SEED`, default random), printed
/// so that a failure can be replayed.
pub fn kills_and_seed() -> (u32, u64) {
    cli::kills_and_seed(50)
}

/// Runs `command()` again and again, each time sending SIGKILL after `delay(rng)` unless it
/// already exited, until `kills` kills have landed while it was running (at most
/// `kills * runs_per_kill` runs). Returns (kills that landed mid-run, runs).
pub fn kill_loop(
    kills: u32,
    seed: u64,
    runs_per_kill: u32,
    command: impl FnMut() -> Command,
    delay: impl FnMut(&mut SmallRng) -> Duration + 'static,
) -> (u32, u32) {
    let report = KillLoop::new(kills, seed)
        .runs_max(kills * runs_per_kill)
        .delay(delay)
        .poll(Duration::from_millis(1))
        .kill_runs(command)
        .unwrap();
    (report.kills, report.runs)
}
