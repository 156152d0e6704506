//! Keyed stateful operators. Every operator keeps its state split by key group, so a
//! checkpoint stores one snapshot per group and a job restarted with another parallelism
//! hands each task exactly the groups it now owns.
//!
//! - [`PersistentTask`]: the user's custom operator, one `State` per key.
//! - `AggregateOperator`: a monoid per key, each changed total emitted at the checkpoint
//!   (like a KTable cache: outputs per checkpoint are bounded by the keys, not the events).
//! - `WindowOperator`: a monoid per key and event-time window, emitted by the clock.
//! - `PassThrough`: stateless jobs.

use crate::hashed_key::{HashedKey, Prehashed};
use crate::types::{Event, GroupKey, Windowed};
use exactly_core::Timestamp;
use exactly_state::{LatePolicy, Monoid, SnapshotError, WindowAssigner, WindowState};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// A custom stateful operator: the engine keeps one `State` per key, checkpoints it with
/// the job and restores it after a crash, so `process` sees every message exactly once.
///
/// The classic per-key `CountProcessor`:
///
/// ```
/// use exactly_engine::PersistentTask;
/// use exactly_core::Timestamp;
///
/// #[derive(Clone)]
/// struct CountProcessor;
///
/// impl PersistentTask for CountProcessor {
///     type Key = String;
///     type In = String;
///     type State = u64;
///     type Out = (String, u64);
///
///     fn process(&mut self, key: &String, _: String, _: Timestamp, count: &mut u64, out: &mut Vec<(String, u64)>) {
///         *count += 1;
///         out.push((key.clone(), *count));
///     }
/// }
/// ```
pub trait PersistentTask: Send + 'static {
    /// The key state is kept under.
    type Key: GroupKey;
    /// Input items.
    type In: Send + 'static;
    /// State per key (starts at `Default`).
    type State: Default + Serialize + DeserializeOwned + Send + 'static;
    /// Output items.
    type Out: Send + 'static;

    /// Processes one item of `key`, updating its `state` and pushing outputs.
    fn process(
        &mut self,
        key: &Self::Key,
        input: Self::In,
        timestamp: Timestamp,
        state: &mut Self::State,
        out: &mut Vec<Self::Out>,
    );
}

/// The runtime's view of an operator.
pub(crate) trait KeyedOperator<K, T, O>: Send {
    /// Applies one item (fails only if its key cannot be encoded).
    fn process(&mut self, event: Event<K, T>, out: &mut Vec<O>) -> Result<(), SnapshotError>;
    /// The task's clock moved to `clock`.
    fn on_clock(&mut self, _clock: Timestamp, _out: &mut Vec<O>) -> Result<(), SnapshotError> {
        Ok(())
    }
    /// A checkpoint barrier is about to be taken: emit what is due per checkpoint.
    fn on_checkpoint(&mut self, _out: &mut Vec<O>) {}
    /// State per key group (groups without state may be left out).
    fn snapshot(&self) -> Result<Vec<(u32, Vec<u8>)>, SnapshotError>;
    /// Restores one key group's state.
    fn restore(&mut self, group: u32, bytes: &[u8]) -> Result<(), SnapshotError>;
}

pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, SnapshotError> {
    // A user's `Serialize` impl may fail: that is an error, never an empty snapshot.
    postcard::to_allocvec(value).map_err(|e| SnapshotError::Encode(e.to_string()))
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, SnapshotError> {
    postcard::from_bytes(bytes).map_err(|e| SnapshotError::Decode(e.to_string()))
}

/// Groups `(group, key, value)` entries and encodes each group's list.
pub(crate) fn snapshot_by_group<'a, K: Serialize + 'a, V: Serialize + 'a>(
    entries: impl Iterator<Item = (u32, &'a K, &'a V)>,
) -> Result<Vec<(u32, Vec<u8>)>, SnapshotError> {
    let mut groups: BTreeMap<u32, Vec<(&K, &V)>> = BTreeMap::new();
    for (group, key, value) in entries {
        groups.entry(group).or_default().push((key, value));
    }
    groups
        .into_iter()
        .map(|(group, list)| Ok((group, encode(&list)?)))
        .collect()
}

/// Stateless: outputs are the inputs.
pub(crate) struct PassThrough;

impl<K, T: Send> KeyedOperator<K, T, T> for PassThrough {
    fn process(&mut self, event: Event<K, T>, out: &mut Vec<T>) -> Result<(), SnapshotError> {
        out.push(event.value);
        Ok(())
    }
    fn snapshot(&self) -> Result<Vec<(u32, Vec<u8>)>, SnapshotError> {
        Ok(Vec::new())
    }
    fn restore(&mut self, _group: u32, _bytes: &[u8]) -> Result<(), SnapshotError> {
        Ok(())
    }
}

/// Another operator whose outputs go through a function (`Stage::map`): e.g. a change
/// re-keyed by the key of the next stage of a pipeline. State is the inner operator's.
pub(crate) struct MapOutputs<K, T, O, U> {
    pub inner: Box<dyn KeyedOperator<K, T, O>>,
    pub map: std::sync::Arc<dyn Fn(O) -> U + Send + Sync>,
    /// The inner operator's outputs of one call, before mapping (kept to reuse its buffer).
    pub scratch: Vec<O>,
}

impl<K, T, O: Send, U> MapOutputs<K, T, O, U> {
    fn drain_into(&mut self, out: &mut Vec<U>) {
        out.extend(self.scratch.drain(..).map(&*self.map));
    }
}

impl<K, T, O: Send, U> KeyedOperator<K, T, U> for MapOutputs<K, T, O, U> {
    fn process(&mut self, event: Event<K, T>, out: &mut Vec<U>) -> Result<(), SnapshotError> {
        let result = self.inner.process(event, &mut self.scratch);
        self.drain_into(out);
        result
    }
    fn on_clock(&mut self, clock: Timestamp, out: &mut Vec<U>) -> Result<(), SnapshotError> {
        let result = self.inner.on_clock(clock, &mut self.scratch);
        self.drain_into(out);
        result
    }
    fn on_checkpoint(&mut self, out: &mut Vec<U>) {
        self.inner.on_checkpoint(&mut self.scratch);
        self.drain_into(out);
    }
    fn snapshot(&self) -> Result<Vec<(u32, Vec<u8>)>, SnapshotError> {
        self.inner.snapshot()
    }
    fn restore(&mut self, group: u32, bytes: &[u8]) -> Result<(), SnapshotError> {
        self.inner.restore(group, bytes)
    }
}

struct AggregateSlot<V> {
    group: u32,
    value: V,
    dirty: bool,
}

/// A monoid total per key; changed totals are emitted at each checkpoint. Keys are looked
/// up by the hash their source computed (`HashedKey`): each key is hashed once.
pub(crate) struct AggregateOperator<K, M: Monoid> {
    monoid: M,
    totals: HashMap<HashedKey<K>, AggregateSlot<M::Value>, Prehashed>,
    dirty: Vec<HashedKey<K>>,
}

impl<K, M: Monoid> AggregateOperator<K, M> {
    pub fn new(monoid: M) -> Self {
        Self {
            monoid,
            totals: HashMap::default(),
            dirty: Vec::new(),
        }
    }
}

impl<K: GroupKey, X, M: Monoid> KeyedOperator<K, (X, M::Value), (K, M::Value)>
    for AggregateOperator<K, M>
{
    fn process(
        &mut self,
        event: Event<K, (X, M::Value)>,
        _out: &mut Vec<(K, M::Value)>,
    ) -> Result<(), SnapshotError> {
        let value = event.value.1;
        let key = HashedKey {
            hash: event.hash,
            key: event.key,
        };
        if let Some(slot) = self.totals.get_mut(&key) {
            slot.value = self.monoid.combine(&slot.value, &value);
            if !slot.dirty {
                slot.dirty = true;
                self.dirty.push(key);
            }
            return Ok(());
        }
        let total = self.monoid.combine(&self.monoid.zero(), &value);
        self.dirty.push(key.clone());
        self.totals.insert(
            key,
            AggregateSlot {
                group: event.group,
                value: total,
                dirty: true,
            },
        );
        Ok(())
    }

    fn on_checkpoint(&mut self, out: &mut Vec<(K, M::Value)>) {
        for key in self.dirty.drain(..) {
            if let Some(slot) = self.totals.get_mut(&key) {
                slot.dirty = false;
                out.push((key.key, slot.value.clone()));
            }
        }
    }

    fn snapshot(&self) -> Result<Vec<(u32, Vec<u8>)>, SnapshotError> {
        snapshot_by_group(self.totals.iter().map(|(k, s)| (s.group, &k.key, &s.value)))
    }

    fn restore(&mut self, group: u32, bytes: &[u8]) -> Result<(), SnapshotError> {
        let entries: Vec<(K, M::Value)> = decode(bytes)?;
        for (key, value) in entries {
            let slot = AggregateSlot {
                group,
                value,
                dirty: false,
            };
            self.totals.insert(HashedKey::new(key), slot);
        }
        Ok(())
    }
}

/// A monoid per key and event-time window; windows fire by the task's clock.
pub(crate) struct WindowOperator<K, M: Monoid> {
    monoid: M,
    assigner: WindowAssigner,
    late_policy: LatePolicy,
    groups: BTreeMap<u32, WindowState<M>>,
    clock: Timestamp,
    _key: std::marker::PhantomData<fn() -> K>,
}

impl<K, M: Monoid + Clone> WindowOperator<K, M> {
    pub fn new(monoid: M, assigner: WindowAssigner, late_policy: LatePolicy) -> Self {
        Self {
            monoid,
            assigner,
            late_policy,
            groups: BTreeMap::new(),
            clock: Timestamp::MIN,
            _key: std::marker::PhantomData,
        }
    }

    fn group_state(&mut self, group: u32) -> &mut WindowState<M> {
        let (monoid, assigner, late, clock) = (
            self.monoid.clone(),
            self.assigner,
            self.late_policy,
            self.clock,
        );
        self.groups.entry(group).or_insert_with(|| {
            // A group first seen now must not reopen windows the task already closed.
            let mut state = WindowState::new(monoid, assigner, late);
            state.advance_clock(clock);
            state
        })
    }

    /// Messages dropped as late, over all groups.
    #[cfg(test)]
    pub fn late_dropped(&self) -> u64 {
        self.groups.values().map(WindowState::late_dropped).sum()
    }
}

impl<K: GroupKey, X, M: Monoid + Clone> KeyedOperator<K, (X, M::Value), Windowed<K, M::Value>>
    for WindowOperator<K, M>
{
    fn process(
        &mut self,
        event: Event<K, (X, M::Value)>,
        _out: &mut Vec<Windowed<K, M::Value>>,
    ) -> Result<(), SnapshotError> {
        let key = encode(&event.key)?;
        self.group_state(event.group)
            .update(&key, event.timestamp, &event.value.1);
        Ok(())
    }

    fn on_clock(
        &mut self,
        clock: Timestamp,
        out: &mut Vec<Windowed<K, M::Value>>,
    ) -> Result<(), SnapshotError> {
        self.clock = self.clock.max(clock);
        for state in self.groups.values_mut() {
            for closed in state.advance_clock(clock) {
                // Keys were encoded by `process`; one that does not decode (a damaged
                // restored snapshot) fails the run: never skipped, never a wrong key.
                let key = decode::<K>(&closed.key)?;
                out.push(Windowed {
                    key,
                    start_ms: closed.start_ms,
                    end_ms: closed.end_ms,
                    value: closed.value,
                });
            }
        }
        Ok(())
    }

    fn snapshot(&self) -> Result<Vec<(u32, Vec<u8>)>, SnapshotError> {
        self.groups
            .iter()
            .map(|(group, state)| Ok((*group, state.snapshot()?)))
            .collect()
    }

    fn restore(&mut self, group: u32, bytes: &[u8]) -> Result<(), SnapshotError> {
        let state = self.group_state(group);
        state.restore(bytes)?;
        let clock = state.clock();
        self.clock = self.clock.max(clock);
        Ok(())
    }
}

/// Runs a [`PersistentTask`] with one state per key.
pub(crate) struct TaskOperator<P: PersistentTask> {
    task: P,
    states: HashMap<HashedKey<P::Key>, (u32, P::State), Prehashed>,
}

impl<P: PersistentTask> TaskOperator<P> {
    pub fn new(task: P) -> Self {
        Self {
            task,
            states: HashMap::default(),
        }
    }
}

impl<P: PersistentTask> KeyedOperator<P::Key, P::In, P::Out> for TaskOperator<P> {
    fn process(
        &mut self,
        event: Event<P::Key, P::In>,
        out: &mut Vec<P::Out>,
    ) -> Result<(), SnapshotError> {
        let key = HashedKey {
            hash: event.hash,
            key: event.key,
        };
        // No copy of a known key (`entry` would take an owned key: a copy per item); the
        // second lookup reuses the kept hash.
        if !self.states.contains_key(&key) {
            self.states
                .insert(key.clone(), (event.group, P::State::default()));
        }
        let (_, state) = self
            .states
            .get_mut(&key)
            .expect("the key was inserted just above when it was missing");
        self.task
            .process(&key.key, event.value, event.timestamp, state, out);
        Ok(())
    }

    fn snapshot(&self) -> Result<Vec<(u32, Vec<u8>)>, SnapshotError> {
        snapshot_by_group(self.states.iter().map(|(k, (g, s))| (*g, &k.key, s)))
    }

    fn restore(&mut self, group: u32, bytes: &[u8]) -> Result<(), SnapshotError> {
        let entries: Vec<(P::Key, P::State)> = decode(bytes)?;
        for (key, state) in entries {
            self.states.insert(HashedKey::new(key), (group, state));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use exactly_state::{Count, Sum};

    fn event(key: &str, value: i128, ts: i64) -> Event<String, ((), i128)> {
        let key = key.to_string();
        let group = crate::key_group::key_group(key.as_bytes(), 8);
        Event {
            hash: crate::hashed_key::key_hash(&key),
            key,
            group,
            value: ((), value),
            timestamp: Timestamp(ts),
        }
    }

    #[test]
    fn aggregate_emits_each_changed_key_once_per_checkpoint() {
        let mut op: Box<dyn KeyedOperator<String, ((), i128), (String, i128)>> =
            Box::new(AggregateOperator::<String, Sum>::new(Sum));
        let mut out = Vec::new();
        for (k, v) in [("a", 1), ("b", 2), ("a", 3)] {
            op.process(event(k, v, 0), &mut out).unwrap();
        }
        assert!(out.is_empty());
        op.on_checkpoint(&mut out);
        out.sort();
        assert_eq!(out, vec![("a".to_string(), 4), ("b".to_string(), 2)]);
        out.clear();
        op.on_checkpoint(&mut out);
        assert!(out.is_empty(), "nothing changed since");
    }

    #[test]
    fn aggregate_snapshot_restores_by_group() {
        type Op = Box<dyn KeyedOperator<String, ((), i128), (String, i128)>>;
        let mut op: Op = Box::new(AggregateOperator::<String, Sum>::new(Sum));
        let mut out = Vec::new();
        for i in 0..100 {
            op.process(event(&format!("k{i}"), i, 0), &mut out).unwrap();
        }
        let mut restored: Op = Box::new(AggregateOperator::<String, Sum>::new(Sum));
        for (group, bytes) in op.snapshot().unwrap() {
            restored.restore(group, &bytes).unwrap();
        }
        for i in 0..100 {
            restored
                .process(event(&format!("k{i}"), 0, 0), &mut out)
                .unwrap();
        }
        restored.on_checkpoint(&mut out);
        out.sort();
        let mut expected: Vec<_> = (0..100).map(|i| (format!("k{i}"), i)).collect();
        expected.sort();
        assert_eq!(out, expected);
    }

    #[test]
    fn window_fires_by_clock_and_late_is_dropped() {
        let mut window = WindowOperator::<String, Count>::new(
            Count,
            WindowAssigner::Tumbling { size_ms: 10 },
            LatePolicy::Drop,
        );
        let op: &mut dyn KeyedOperator<String, ((), u64), Windowed<String, u64>> = &mut window;
        let mut out = Vec::new();
        let count = |k: &str, ts| {
            let e = event(k, 1, ts);
            Event {
                key: e.key,
                hash: e.hash,
                group: e.group,
                value: ((), 1u64),
                timestamp: e.timestamp,
            }
        };
        op.process(count("a", 1), &mut out).unwrap();
        op.process(count("a", 9), &mut out).unwrap();
        op.process(count("a", 11), &mut out).unwrap();
        op.on_clock(Timestamp(10), &mut out).unwrap();
        assert_eq!(
            out,
            vec![Windowed {
                key: "a".to_string(),
                start_ms: 0,
                end_ms: 10,
                value: 2
            }]
        );
        op.process(count("a", 5), &mut out).unwrap();
        assert_eq!(window.late_dropped(), 1);
    }
}
