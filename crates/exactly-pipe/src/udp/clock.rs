//! The driver's time: milliseconds since the end started (the sans-IO cores' `now_ms`).

use super::security::saturating_ms;
use std::time::Instant;

/// Milliseconds since `start`, saturating (a u64 of milliseconds outlasts any process).
pub(crate) fn elapsed_ms(start: Instant) -> u64 {
    saturating_ms(start.elapsed())
}
