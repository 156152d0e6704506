//! Shared harness of the `kill -9` loops of the `exactly` binary.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub const EXE: &str = env!("CARGO_BIN_EXE_exactly");

/// `exactly <args> --dir <dir>` with no standard input.
pub fn exactly(args: &[&str], dir: &Path) -> Command {
    let mut command = Command::new(EXE);
    command
        .args(args)
        .arg("--dir")
        .arg(dir)
        .stdin(Stdio::null());
    command
}

/// Kills (`EXACTLY_KILLS`, default 50) and seed (`EXACTLY_SEED`, default random), printed
/// so that a failure can be replayed.
pub fn kills_and_seed() -> (u32, u64) {
    let kills = std::env::var("EXACTLY_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let seed = std::env::var("EXACTLY_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    println!("seed {seed}, kills {kills}");
    (kills, seed)
}

/// Runs `command()` again and again, each time sending SIGKILL after `delay(rng)` unless it
/// already exited, until `kills` kills have landed while it was running (at most
/// `kills * runs_per_kill` runs). Returns (kills that landed mid-run, runs).
pub fn kill_loop(
    kills: u32,
    seed: u64,
    runs_per_kill: u32,
    mut command: impl FnMut() -> Command,
    mut delay: impl FnMut(&mut SmallRng) -> Duration,
) -> (u32, u32) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let (mut killed_mid_run, mut runs) = (0, 0);
    while killed_mid_run < kills && runs < kills * runs_per_kill {
        runs += 1;
        let mut child = command().spawn().unwrap();
        let deadline = Instant::now() + delay(&mut rng);
        while Instant::now() < deadline && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(1));
        }
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL on Unix
            killed_mid_run += 1;
        }
        child.wait().unwrap();
    }
    (killed_mid_run, runs)
}
