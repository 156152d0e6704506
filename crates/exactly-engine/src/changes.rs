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
