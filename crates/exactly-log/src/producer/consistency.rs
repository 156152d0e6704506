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

#[cfg(test)]
mod tests {
    use super::super::{AbortedTxn, BatchSeq, OngoingTxn, ProducerEntry};
    use super::*;
    use std::collections::{BTreeMap, VecDeque};

    fn batch(first_sequence: u64, base_offset: u64, records: u64) -> BatchSeq {
        BatchSeq {
            first_sequence,
            last_sequence: first_sequence + records - 1,
            base_offset,
            last_offset: base_offset + records - 1,
        }
    }

    fn table() -> ProducerTable {
        let entry = ProducerEntry {
            epoch: 0,
            batches: VecDeque::from([batch(0, 0, 2), batch(2, 5, 3)]),
            last_append_ms: 0,
        };
        ProducerTable {
            entries: BTreeMap::from([(1, entry)]),
            ongoing: BTreeMap::from([(
                2,
                OngoingTxn {
                    producer_id: 2,
                    epoch: 0,
                    first_offset: 9,
                },
            )]),
            aborted: VecDeque::from([
                AbortedTxn {
                    producer_id: 3,
                    first_offset: 2,
                    last_offset: 4,
                },
                AbortedTxn {
                    producer_id: 3,
                    first_offset: 3,
                    last_offset: 8,
                },
            ]),
        }
    }

    #[test]
    fn a_well_formed_table_passes() {
        assert_eq!(table().check_consistency(Offset(10)), Ok(()));
    }

    #[test]
    fn offsets_at_or_past_the_end_are_caught() {
        // The open transaction starts at 9, the last batch ends at 7.
        assert!(table().check_consistency(Offset(9)).is_err());
        assert!(table().check_consistency(Offset(7)).is_err());
    }

    #[test]
    fn out_of_order_batches_and_spans_are_caught() {
        let mut t = table();
        if let Some(entry) = t.entries.get_mut(&1) {
            entry.batches.swap(0, 1);
        }
        assert!(t.check_consistency(Offset(10)).is_err());

        let mut t = table();
        t.aborted.swap(0, 1);
        assert!(t.check_consistency(Offset(10)).is_err());

        let mut t = table();
        if let Some(txn) = t.ongoing.get_mut(&2) {
            txn.producer_id = 4;
        }
        assert!(t.check_consistency(Offset(10)).is_err());

        let mut t = table();
        if let Some(entry) = t.entries.get_mut(&1) {
            for i in 0..RETAINED_BATCHES as u64 {
                entry.batches.push_back(batch(10 + i, 20 + i, 1));
            }
        }
        assert!(t.check_consistency(Offset(100)).is_err());
    }
}
