//! [`Change`]: a key's total and what changed it since the last checkpoint — the output of
//! [`KeyedStream::aggregate_changes`](crate::KeyedStream::aggregate_changes), made to be
//! sent on to another stage through a repartition topic (Kafka Streams' `Change` of a
//! re-keyed table). A downstream stage that combines the deltas of several keys under a
//! new key (accounts into branches) needs deltas, not totals: a total cannot be added to
//! another key's total without first subtracting the previous one.
//!
//! Each key's changes are numbered (`sequence` 1, 2, …) in its checkpointed state, so the
//! numbers are a function of the committed history: a consumer that sees a key's sequence
//! twice, or misses one, has seen a duplicated or lost change.

use crate::hashed_key::{HashedKey, Prehashed};
use crate::operator::{decode, snapshot_by_group, KeyedOperator};
use crate::types::{Event, GroupKey, OutputRecord};
use exactly_state::{Monoid, SnapshotError};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// One key's change over one checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change<K, V> {
    /// The key.
    pub key: K,
    /// The values applied to the key since its previous change, combined (for `Sum`:
    /// the delta).
    pub delta: V,
    /// The key's total after this change.
    pub total: V,
    /// 1 for the key's first change, then one more per change.
    pub sequence: u64,
}

/// Written with the key's bytes as record key and the change as JSON value.
impl<K: GroupKey, V: Serialize + Send + 'static> OutputRecord for Change<K, V> {
    fn record_key(&self) -> Option<Vec<u8>> {
        Some(self.key.group_bytes().into_owned())
    }
    fn record_value(&self) -> Result<Vec<u8>, SnapshotError> {
        serde_json::to_vec(self).map_err(|e| SnapshotError::Encode(e.to_string()))
    }
}

struct ChangeSlot<V> {
    group: u32,
    total: V,
    /// Values applied since the last change was emitted, combined.
    pending: V,
    sequence: u64,
    dirty: bool,
}

/// A key's checkpointed state: its total and the sequence of its last change. Nothing is
/// pending at a snapshot: the task emits changes (`on_checkpoint`) right before it.
type SavedChange<V> = (V, u64);

/// A monoid total per key; each key changed since the last checkpoint emits one
/// [`Change`] at the checkpoint.
pub(crate) struct ChangesOperator<K, M: Monoid> {
    monoid: M,
    slots: HashMap<HashedKey<K>, ChangeSlot<M::Value>, Prehashed>,
    dirty: Vec<HashedKey<K>>,
}

impl<K, M: Monoid> ChangesOperator<K, M> {
    pub fn new(monoid: M) -> Self {
        Self {
            monoid,
            slots: HashMap::default(),
            dirty: Vec::new(),
        }
    }

    fn slot(&self, group: u32, total: M::Value, sequence: u64) -> ChangeSlot<M::Value> {
        ChangeSlot {
            group,
            total,
            pending: self.monoid.zero(),
            sequence,
            dirty: false,
        }
    }
}

impl<K: GroupKey, X, M: Monoid> KeyedOperator<K, (X, M::Value), Change<K, M::Value>>
    for ChangesOperator<K, M>
{
    fn process(
        &mut self,
        event: Event<K, (X, M::Value)>,
        _out: &mut Vec<Change<K, M::Value>>,
    ) -> Result<(), SnapshotError> {
        let key = HashedKey {
            hash: event.hash,
            key: event.key,
        };
        let value = &event.value.1;
        if let Some(slot) = self.slots.get_mut(&key) {
            slot.total = self.monoid.combine(&slot.total, value);
            slot.pending = self.monoid.combine(&slot.pending, value);
            if !slot.dirty {
                slot.dirty = true;
                self.dirty.push(key);
            }
            return Ok(());
        }
        let first = self.monoid.combine(&self.monoid.zero(), value);
        let mut slot = self.slot(event.group, first.clone(), 0);
        slot.pending = first;
        slot.dirty = true;
        self.dirty.push(key.clone());
        self.slots.insert(key, slot);
        Ok(())
    }

    fn on_checkpoint(&mut self, out: &mut Vec<Change<K, M::Value>>) {
        for key in self.dirty.drain(..) {
            if let Some(slot) = self.slots.get_mut(&key) {
                slot.dirty = false;
                slot.sequence += 1;
                out.push(Change {
                    key: key.key,
                    delta: std::mem::replace(&mut slot.pending, self.monoid.zero()),
                    total: slot.total.clone(),
                    sequence: slot.sequence,
                });
            }
        }
    }

    fn snapshot(&self) -> Result<Vec<(u32, Vec<u8>)>, SnapshotError> {
        if !self.dirty.is_empty() {
            // Saving only totals is right because changes are emitted before every
            // snapshot; a snapshot with changes pending would lose them.
            return Err(SnapshotError::Encode(
                "changes pending at a snapshot (they are emitted at the checkpoint first)".into(),
            ));
        }
        let saved: Vec<(u32, &K, SavedChange<&M::Value>)> = (self.slots.iter())
            .map(|(k, s)| (s.group, &k.key, (&s.total, s.sequence)))
            .collect();
        snapshot_by_group(
            saved
                .iter()
                .map(|(group, key, state)| (*group, *key, state)),
        )
    }

    fn restore(&mut self, group: u32, bytes: &[u8]) -> Result<(), SnapshotError> {
        let entries: Vec<(K, SavedChange<M::Value>)> = decode(bytes)?;
        for (key, (total, sequence)) in entries {
            let slot = self.slot(group, total, sequence);
            self.slots.insert(HashedKey::new(key), slot);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use exactly_core::Timestamp;
    use exactly_state::Sum;

    fn event(key: &str, value: i128) -> Event<String, ((), i128)> {
        let key = key.to_string();
        Event {
            hash: crate::hashed_key::key_hash(&key),
            group: crate::key_group::key_group(key.as_bytes(), 8),
            key,
            value: ((), value),
            timestamp: Timestamp(0),
        }
    }

    type Keyed = dyn KeyedOperator<String, ((), i128), Change<String, i128>>;

    fn checkpoint(operator: &mut Keyed) -> Vec<Change<String, i128>> {
        let mut out = Vec::new();
        operator.on_checkpoint(&mut out);
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }

    fn change(key: &str, delta: i128, total: i128, sequence: u64) -> Change<String, i128> {
        let key = key.to_string();
        Change {
            key,
            delta,
            total,
            sequence,
        }
    }

    #[test]
    fn changes_carry_deltas_and_sequences_across_a_restore() {
        let mut operator: Box<Keyed> = Box::new(ChangesOperator::new(Sum));
        let mut out = Vec::new();
        for (key, value) in [("a", 5), ("b", 2), ("a", -1)] {
            operator.process(event(key, value), &mut out).unwrap();
        }
        assert!(out.is_empty(), "changes wait for the checkpoint");
        let first = checkpoint(operator.as_mut());
        assert_eq!(first, [change("a", 4, 4, 1), change("b", 2, 2, 1)]);
        let again = checkpoint(operator.as_mut());
        assert!(again.is_empty(), "nothing changed since");

        let mut restored: Box<Keyed> = Box::new(ChangesOperator::new(Sum));
        for (group, bytes) in operator.snapshot().unwrap() {
            restored.restore(group, &bytes).unwrap();
        }
        restored.process(event("a", 10), &mut out).unwrap();
        restored.process(event("c", 0), &mut out).unwrap();
        let second = checkpoint(restored.as_mut());
        assert_eq!(second, [change("a", 10, 14, 2), change("c", 0, 0, 1)]);
    }

    #[test]
    fn snapshot_with_changes_pending_is_refused() {
        let mut operator: Box<Keyed> = Box::new(ChangesOperator::new(Sum));
        operator.process(event("a", 1), &mut Vec::new()).unwrap();
        assert!(operator.snapshot().is_err());
    }
}
