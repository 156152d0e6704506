//! A task's clock is the minimum of its inputs' clocks and its pending messages, and it
//! never moves back.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use exactly_core::Timestamp;
use exactly_engine::{key_group, ClockTracker};

#[test]
fn clock_is_the_minimum_and_monotone() {
    let mut clock = ClockTracker::new(2);
    clock.advance_input(0, Timestamp(100));
    assert_eq!(clock.clock(), Timestamp::MIN, "input 1 has not reported");
    clock.advance_input(1, Timestamp(50));
    assert_eq!(clock.clock(), Timestamp(50));
    clock.add_pending(Timestamp(60));
    clock.advance_input(1, Timestamp(200));
    assert_eq!(
        clock.clock(),
        Timestamp(60),
        "a pending message holds the clock"
    );
    clock.remove_pending(Timestamp(60));
    assert_eq!(clock.clock(), Timestamp(100));
    clock.advance_input(0, Timestamp(10));
    assert_eq!(clock.clock(), Timestamp(100), "never moves back");
    assert!(key_group(b"account-1", 128) < 128);
}
