//! Helpers shared by the endpoint's integration tests.
#![allow(dead_code)]

use rand::Rng;

/// Seeds to run: `EXACTLY_SEED` replays one; otherwise `EXACTLY_SEEDS` (default
/// `default_count`) seeds from a random start, printed so a failure can be replayed.
pub fn seeds(default_count: u64) -> Vec<u64> {
    if let Some(seed) = std::env::var("EXACTLY_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        println!("replaying seed {seed}");
        return vec![seed];
    }
    let count = std::env::var("EXACTLY_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_count);
    let start: u64 = rand::rng().random_range(0..u64::MAX / 2);
    println!(
        "seeds {start}..{} (EXACTLY_SEED=<n> replays one)",
        start + count
    );
    (start..start + count).collect()
}
