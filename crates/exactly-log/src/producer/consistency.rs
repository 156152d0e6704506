//! Invariant check of a [`ProducerTable`]: what every mutation of the table must preserve.
//! Run after each mutation of a partition in debug builds and by tests; a violation is a
//! bug in the log, never something input or disk can cause once a table is built.

use super::{ProducerTable, RETAINED_BATCHES};
use exactly_core::Offset;

impl ProducerTable {
    /// Checks the table's invariants for a partition whose next offset is `next_offset`:
    /// each producer's remembered batches are at most [`RETAINED_BATCHES`], well formed and
    /// in offset order below `next_offset`; open transactions are keyed by their producer
    /// and start below `next_offset`; aborted spans are well formed, below `next_offset`
    /// and ordered by their marker's offset (retention prunes them from the front).
    pub fn check_consistency(&self, next_offset: Offset) -> Result<(), String> {
        for (id, entry) in &self.entries {
            if entry.batches.len() > RETAINED_BATCHES {
                return Err(format!(
                    "producer {id} remembers {} batches (at most {RETAINED_BATCHES})",
                    entry.batches.len()
                ));
            }
            let mut previous: Option<u64> = None;
            for b in &entry.batches {
                if b.first_sequence > b.last_sequence || b.base_offset > b.last_offset {
                    return Err(format!("producer {id}: malformed batch {b:?}"));
                }
                if b.last_offset >= next_offset.0 {
                    return Err(format!(
                        "producer {id}: batch {b:?} at or past the next offset {next_offset}"
                    ));
                }
                if previous.is_some_and(|last| last >= b.base_offset) {
                    return Err(format!(
                        "producer {id}: batches out of offset order at {b:?}"
                    ));
                }
                previous = Some(b.last_offset);
            }
        }
        for (id, txn) in &self.ongoing {
            if *id != txn.producer_id {
                return Err(format!(
                    "open transaction {txn:?} filed under producer {id}"
                ));
            }
            if txn.first_offset >= next_offset.0 {
                return Err(format!(
                    "open transaction {txn:?} starts at or past the next offset {next_offset}"
                ));
            }
        }
        let mut previous: Option<u64> = None;
        for a in &self.aborted {
            if a.first_offset >= a.last_offset || a.last_offset >= next_offset.0 {
                return Err(format!(
                    "aborted span {a:?} malformed or at or past the next offset {next_offset}"
                ));
            }
            if previous.is_some_and(|last| last >= a.last_offset) {
                return Err(format!("aborted spans out of marker order at {a:?}"));
            }
            previous = Some(a.last_offset);
        }
        Ok(())
    }
}
