//! Fencing by epoch (pure): how a writer that may have been replaced learns it.
//!
//! Every record a fenced writer (the engine's exactly-once sink) publishes carries its
//! epoch (`Exactly-Epoch`), and every batch is conditional on the partition's last
//! sequence (see [`crate::publish`]). A writer reads the tail before it writes: a tail
//! with a higher epoch means a newer writer has taken over — [`NatsError::Fenced`]. A
//! writer that read the tail before the newer one wrote still cannot write after it: its
//! conditional publish is refused (`WrongLastSequence`), and its next tail read finds the
//! higher epoch. So a lower epoch never lands after a higher one, with no lease in
//! JetStream and no reliance on the duplicate window.

use crate::error::NatsError;
use crate::record::StoredRecord;

/// `Ok` if a writer with `epoch` may write after `tail` (no tail, a tail without epoch or
/// with an epoch ≤ `epoch`); [`NatsError::Fenced`] otherwise.
pub fn check_fence(stream: &str, tail: Option<&StoredRecord>, epoch: u64) -> Result<(), NatsError> {
    match tail {
        Some(tail) => match tail.epoch {
            Some(tail_epoch) if tail_epoch > epoch => Err(NatsError::Fenced {
                stream: stream.to_string(),
                epoch,
                tail_epoch,
                tail_sequence: tail.sequence,
            }),
            _ => Ok(()),
        },
        None => Ok(()),
    }
}
