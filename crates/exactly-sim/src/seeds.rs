//! How many seeds a seeded test sweeps: `EXACTLY_SEEDS` overrides the default.

/// The seeds to run: `0..EXACTLY_SEEDS`, or `0..default` when the variable is unset.
///
/// # Panics
/// When `EXACTLY_SEEDS` is set but not a number: a test asked for more seeds must not
/// quietly run the default count.
pub fn seeds(default: u64) -> std::ops::Range<u64> {
    #[allow(clippy::panic)] // A test knob set wrong stops the test run, loudly.
    let n = match std::env::var("EXACTLY_SEEDS") {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("EXACTLY_SEEDS={value:?} is not a number of seeds")),
        Err(_) => default,
    };
    0..n
}
