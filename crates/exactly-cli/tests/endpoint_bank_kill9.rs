//! The bank under real SIGKILLs: `exactly endpoint bank` runs `accounts-a` and
//! `accounts-b` as child processes of the binary, kills them at random moments
//! (`EXACTLY_KILLS`, default 50) while transfers with duplicates and bad messages are fed,
//! restarts them, and audits. Every transfer must be debited and credited exactly once,
//! money conserved, no credit without its debit, every bad message dead-lettered.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::endpoint_bank_common;
use crate::kill_common;

#[test]
fn bank_under_kill9_then_every_transfer_exactly_once() {
    let (kills, seed) = kill_common::kills_and_seed();
    endpoint_bank_common::run_bank_and_assert("embedded", 100_000, 8, kills, seed);
}
