//! `exactly-engine`: the stream engine of seed 000 — messages carry timestamps, every task
//! tracks its clock, checkpoints are consistent cuts taken with aligned barriers, and keyed
//! state is partitioned by key group so that it can be rescaled.
//!
//! This crate holds the sans-IO cores the engine's drivers are built on; they take inputs
//! and return decisions, and own no threads, files or time:
//!
//! # Layout
//! - [`clock`]: [`ClockTracker`] — a task's clock is the minimum over its inputs' clocks
//!   and its pending messages (the low watermark that fires windows).
//! - [`barrier`]: [`BarrierAligner`] — checkpoint barriers aligned across a task's inputs
//!   (Flink's asynchronous barrier snapshots): an input that delivered barrier *n* is held
//!   back until every input has, so the snapshot is a consistent cut.
//! - [`key_group`]: keys → key groups → task ranges, stable under rescaling.

pub mod barrier;
pub mod clock;
pub mod key_group;

pub use barrier::{BarrierAligner, BarrierEvent, CheckpointId};
pub use clock::ClockTracker;
pub use key_group::{key_group, task_for_key_group, KeyGroupRange};
