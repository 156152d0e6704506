//! What the threads of a run send each other: items routed from sources to tasks
//! ([`ToTask`]), a checkpoint's outputs from a task to its sink ([`EpochOutput`]) and
//! acknowledgements to the coordinator ([`Ack`]); and the [`Lineage`] of an applied item.

use super::coordinator_core::CoordinatorEvent;
use super::error::RunError;
use crate::types::Event;
use exactly_core::Timestamp;
use serde::{Deserialize, Serialize};

/// Where an applied item came from: its input record and its index among that record's
/// outputs of the stateless chain. Deterministic under replay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Lineage {
    /// Input partition.
    pub partition: u32,
    /// Input offset.
    pub offset: u64,
    /// Index among the record's items.
    pub index: u32,
}

/// Decodes one audit record (a list of lineages) written by a job with an audit topic.
pub fn decode_audit(value: &[u8]) -> Result<Vec<Lineage>, exactly_state::SnapshotError> {
    postcard::from_bytes(value).map_err(|e| exactly_state::SnapshotError::Decode(e.to_string()))
}

/// An item routed to a task.
pub(crate) struct Routed<K, T> {
    pub event: Event<K, T>,
    pub lineage: Lineage,
}

/// Source → task.
pub(crate) enum ToTask<K, T> {
    Data(usize, Vec<Routed<K, T>>),
    /// Rejected input records, as dead-letter records (written with the outputs).
    DeadLetters(usize, Vec<exactly_log::Record>),
    Clock(usize, Timestamp),
    Barrier(usize, u64),
    End(usize),
}

impl<K, T> ToTask<K, T> {
    pub fn input(&self) -> usize {
        match self {
            ToTask::Data(i, _)
            | ToTask::DeadLetters(i, _)
            | ToTask::Clock(i, _)
            | ToTask::Barrier(i, _)
            | ToTask::End(i) => *i,
        }
    }
}

/// Task → sink: one checkpoint's outputs and state, or (at-least-once) outputs and audit
/// handed over early, before their checkpoint.
pub(crate) struct EpochOutput<O> {
    /// Outputs written as they come (no state, no acknowledgement).
    pub partial: bool,
    pub checkpoint_id: u64,
    pub outputs: Vec<O>,
    pub audit: Vec<Lineage>,
    pub dead_letters: Vec<exactly_log::Record>,
    pub states: Vec<(u32, Vec<u8>)>,
    pub clock: Timestamp,
}

/// Anything → coordinator.
pub(crate) enum Ack {
    /// An acknowledgement (a source's barrier, a task's aligned checkpoint).
    Event(CoordinatorEvent),
    /// A thread failed.
    Failed(RunError),
}
