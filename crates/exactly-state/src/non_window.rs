//! [`NonWindowState`]: one monoid value per key with no time boundary — e.g. a
//! per-key counter's state.

use crate::monoid::Monoid;
use crate::SnapshotError;
use exactly_core::Timestamp;
use std::collections::BTreeMap;

/// Keyed monoid values. Keys are bytes; a BTreeMap keeps snapshots deterministic.
#[derive(Debug)]
pub struct NonWindowState<M: Monoid> {
    monoid: M,
    values: BTreeMap<Vec<u8>, M::Value>,
    /// Largest timestamp applied (for the checkpoint clock).
    max_timestamp: Timestamp,
}

impl<M: Monoid> NonWindowState<M> {
    /// Empty state over `monoid`.
    pub fn new(monoid: M) -> Self {
        Self {
            monoid,
            values: BTreeMap::new(),
            max_timestamp: Timestamp::MIN,
        }
    }

    /// Combines `value` into `key`'s state (like `state.update(timestamp, 1)` of a counter).
    pub fn update(&mut self, key: &[u8], timestamp: Timestamp, value: &M::Value) {
        let current = self
            .values
            .get(key)
            .cloned()
            .unwrap_or_else(|| self.monoid.zero());
        self.values
            .insert(key.to_vec(), self.monoid.combine(&current, value));
        self.max_timestamp = self.max_timestamp.max(timestamp);
    }

    /// The value of `key` (`zero` if never updated).
    pub fn get(&self, key: &[u8]) -> M::Value {
        self.values
            .get(key)
            .cloned()
            .unwrap_or_else(|| self.monoid.zero())
    }

    /// Every key and value, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &M::Value)> {
        self.values.iter().map(|(k, v)| (k.as_slice(), v))
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether no key was updated.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Largest timestamp applied so far.
    pub fn max_timestamp(&self) -> Timestamp {
        self.max_timestamp
    }

    /// Serialises the state (postcard).
    pub fn snapshot(&self) -> Result<Vec<u8>, SnapshotError> {
        let entries: Vec<(&Vec<u8>, &M::Value)> = self.values.iter().collect();
        postcard::to_allocvec(&(self.max_timestamp.0, entries))
            .map_err(|e| SnapshotError::Encode(e.to_string()))
    }

    /// Replaces the state with a snapshot.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<(), SnapshotError> {
        type Entries<V> = Vec<(Vec<u8>, V)>;
        let (max_timestamp, entries): (i64, Entries<M::Value>) =
            postcard::from_bytes(bytes).map_err(|e| SnapshotError::Decode(e.to_string()))?;
        self.values = entries.into_iter().collect();
        self.max_timestamp = Timestamp(max_timestamp);
        Ok(())
    }

    /// Moves out the keys for which `keep` is false (rescaling hands them to another task).
    pub fn split_off(&mut self, keep: impl Fn(&[u8]) -> bool) -> Vec<(Vec<u8>, M::Value)> {
        let (kept, moved): (BTreeMap<_, _>, BTreeMap<_, _>) = std::mem::take(&mut self.values)
            .into_iter()
            .partition(|(k, _)| keep(k));
        self.values = kept;
        moved.into_iter().collect()
    }

    /// Merges values handed over from another task (combining with what is here).
    pub fn merge(&mut self, entries: Vec<(Vec<u8>, M::Value)>) {
        for (key, value) in entries {
            let current = self
                .values
                .get(&key)
                .cloned()
                .unwrap_or_else(|| self.monoid.zero());
            self.values
                .insert(key, self.monoid.combine(&current, &value));
        }
    }
}
