//! How many seeds a seeded test sweeps: `EXACTLY_SEEDS` overrides the default.

/// The seeds to run: `0..EXACTLY_SEEDS`, or `0..default` when the variable is unset or
/// not a number.
pub fn seeds(default: u64) -> std::ops::Range<u64> {
    let n = std::env::var("EXACTLY_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    0..n
}
