//! The job builder: `Job::new("balances").source(log_topic("transfers")).flat_map(…)
//! .key_by(…).aggregate(Sum).sink(log_topic("balances"))`.
//!
//! A job is a source, a chain of stateless steps (`map`, `filter`, `flat_map`) fused into
//! the source tasks, at most one keyed stateful operator (`aggregate`, `aggregate_changes`,
//! `window_aggregate` or a custom [`PersistentTask`]) behind a keyed edge, optional `map`s
//! of its outputs, and a sink. Types are checked at build time; [`Job`] erases them so the
//! runtime can hold any job. Several keyed stages are a
//! [`Pipeline`](crate::pipeline::Pipeline) of jobs.

use crate::changes::{Change, ChangesOperator};
use crate::operator::{
    AggregateOperator, MapOutputs, PassThrough, PersistentTask, TaskOperator, WindowOperator,
};
use crate::runtime::plan::{Chain, OperatorFactory, Plan, TypedPlan};
use crate::spec::JobSpec;
use crate::types::{GroupKey, OutputRecord, Rejection, SourceRecord, Windowed};
use exactly_state::{LatePolicy, Monoid, WindowAssigner};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Arc;

/// A topic of the embedded log, as a source or a sink.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogTopic {
    /// Topic name.
    pub name: String,
}

/// The topic `name` of the log the job runs on.
pub fn log_topic(name: &str) -> LogTopic {
    LogTopic {
        name: name.to_string(),
    }
}

/// A job under construction, before its source.
#[derive(Debug)]
pub struct JobBuilder {
    name: String,
}

/// A job: built, type-erased, runnable with [`Job::run`](crate::Job::run).
pub struct Job {
    /// What the job reads and writes (everything but its code).
    pub(crate) spec: JobSpec,
    pub(crate) plan: Arc<dyn Plan>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").field("spec", &self.spec).finish()
    }
}

/// The default number of key groups: the most tasks a keyed stage can be scaled to.
pub const KEY_GROUPS_DEFAULT: u32 = 128;

impl Job {
    /// Starts a job called `name` (names its checkpoints and sink transactions; also its
    /// kind, see [`Job::named`]). Names are checked when the job runs
    /// ([`validate_job_name`](crate::validate_job_name)).
    #[allow(clippy::new_ret_no_self)]
    pub fn new(name: &str) -> JobBuilder {
        JobBuilder {
            name: name.to_string(),
        }
    }

    /// The job's name: its identity (checkpoints, journal, transactional ids).
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// What the job computes (`balances`, …): part of its recorded topology, so a
    /// restart under the same name with another computation is refused.
    pub fn kind(&self) -> &str {
        &self.spec.kind
    }

    /// The same job under another name — a new identity with its own checkpoints, so it
    /// starts from the beginning of its input. The kind stays.
    pub fn named(mut self, name: &str) -> Self {
        self.spec.name = name.to_string();
        self
    }

    /// Writes input records the job's parse step rejects to `topic` (exactly once with
    /// the outputs) instead of the default `<output>.dead-letters`.
    pub fn dead_letters(mut self, topic: LogTopic) -> Self {
        self.spec.dead_letters = Some(topic.name);
        self
    }

    /// The dead-letter topic: the one set with [`Job::dead_letters`], else
    /// `<output>.dead-letters`.
    pub fn dead_letter_topic(&self) -> String {
        self.spec.dead_letter_topic()
    }

    /// The input topic.
    pub fn source_topic(&self) -> &str {
        &self.spec.source
    }

    /// The output topic.
    pub fn sink_topic(&self) -> &str {
        &self.spec.sink
    }

    /// What the job writes on the embedded log: its outputs, audit and dead-letter topics,
    /// its journal and the transaction topics. Its input is followed read-only, so other
    /// processes can keep appending to it while the job runs.
    pub fn write_scope(&self) -> exactly_log::WriteScope {
        let mut topics = vec![
            self.sink_topic().to_string(),
            self.dead_letter_topic(),
            crate::runtime::journal::journal_topic(self.name()),
        ];
        topics.extend(self.audit_topic().map(str::to_string));
        exactly_log::WriteScope::topics(topics).with_transactions()
    }

    /// The audit topic, if any.
    pub fn audit_topic(&self) -> Option<&str> {
        self.spec.audit.as_deref()
    }

    /// Also writes, in the same transaction as the outputs, the lineage of every applied
    /// message (input partition, offset, output index) to `topic` — an audit that lets a
    /// checker measure R and UR of what the job applied.
    pub fn audit(mut self, topic: LogTopic) -> Self {
        self.spec.audit = Some(topic.name);
        self
    }

    /// Sets the number of key groups (fixed for the life of the job's checkpoints).
    pub fn key_groups(mut self, key_groups: u32) -> Self {
        self.spec.key_groups = key_groups.clamp(1, 1 << 15);
        self
    }
}

impl JobBuilder {
    /// Reads every partition of a log topic.
    pub fn source(self, topic: LogTopic) -> Stream<SourceRecord> {
        Stream {
            job: self.name,
            source: topic.name,
            chain: Arc::new(|record, emit| {
                emit(record);
                Ok(())
            }),
        }
    }
}

/// A stream of `T`, still stateless (fused into the source tasks).
pub struct Stream<T> {
    job: String,
    source: String,
    chain: Chain<T>,
}

impl<T: Send + 'static> Stream<T> {
    /// One output per item.
    pub fn map<U: Send + 'static>(self, f: impl Fn(T) -> U + Send + Sync + 'static) -> Stream<U> {
        let previous = self.chain;
        Stream {
            job: self.job,
            source: self.source,
            chain: Arc::new(move |record, emit| previous(record, &mut |item| emit(f(item)))),
        }
    }

    /// Parses each item: `Ok` items go on, an `Err(reason)` rejects the whole input
    /// record as bad input — it goes to the dead-letter topic, exactly once with the
    /// outputs, or fails the job (per [`BadInputPolicy`](crate::BadInputPolicy)). Never
    /// silently dropped.
    pub fn try_flat_map<U: Send + 'static, I: IntoIterator<Item = U>>(
        self,
        f: impl Fn(T) -> Result<I, String> + Send + Sync + 'static,
    ) -> Stream<U> {
        let previous = self.chain;
        Stream {
            job: self.job,
            source: self.source,
            chain: Arc::new(move |record, emit| {
                // Items are held until the whole record parsed: a rejected record emits
                // nothing, so it is either applied or dead-lettered, never half of each.
                let mut held = Held::Nothing;
                let mut rejected = None;
                previous(record, &mut |item| match f(item) {
                    Ok(items) => held = std::mem::replace(&mut held, Held::Nothing).push(items),
                    Err(reason) => rejected = Some(reason),
                })?;
                match rejected {
                    Some(reason) => Err(Rejection { reason }),
                    None => {
                        held.emit(&mut *emit);
                        Ok(())
                    }
                }
            }),
        }
    }

    /// Keeps the items for which `f` is true.
    pub fn filter(self, f: impl Fn(&T) -> bool + Send + Sync + 'static) -> Stream<T> {
        let previous = self.chain;
        Stream {
            job: self.job,
            source: self.source,
            chain: Arc::new(move |record, emit| {
                previous(record, &mut |item| {
                    if f(&item) {
                        emit(item)
                    }
                })
            }),
        }
    }

    /// Any number of outputs per item (none drops it).
    pub fn flat_map<U: Send + 'static, I: IntoIterator<Item = U>>(
        self,
        f: impl Fn(T) -> I + Send + Sync + 'static,
    ) -> Stream<U> {
        let previous = self.chain;
        Stream {
            job: self.job,
            source: self.source,
            chain: Arc::new(move |record, emit| {
                previous(record, &mut |item| f(item).into_iter().for_each(&mut *emit))
            }),
        }
    }

    /// Partitions the stream by key: items with equal keys meet in the same task and state.
    pub fn key_by<K: GroupKey>(
        self,
        f: impl Fn(&T) -> K + Send + Sync + 'static,
    ) -> KeyedStream<K, T> {
        let previous = self.chain;
        KeyedStream {
            job: self.job,
            source: self.source,
            chain: Arc::new(move |record, emit| {
                previous(record, &mut |item| emit((f(&item), item)))
            }),
        }
    }
}

impl<K: GroupKey, V: Send + 'static> Stream<(K, V)> {
    /// Keys a stream of `(key, value)` pairs by their first element, without copying the
    /// key: the keyed items are `((), value)`, ready for [`KeyedStream::aggregate`].
    pub fn into_keyed(self) -> KeyedStream<K, ((), V)> {
        let previous = self.chain;
        KeyedStream {
            job: self.job,
            source: self.source,
            chain: Arc::new(move |record, emit| {
                previous(record, &mut |(key, value)| emit((key, ((), value))))
            }),
        }
    }
}

impl<T: OutputRecord> Stream<T> {
    /// A stateless job: items go straight to `topic`.
    pub fn sink(self, topic: LogTopic) -> Job {
        // Stateless: spread by input partition (keeping each partition's order), not by key.
        let stage = Stage::<u64, T, T> {
            keyed: self.key_by(|_| 0u64),
            operator: Arc::new(|| Box::new(PassThrough)),
            route_by_partition: true,
        };
        stage.sink(topic)
    }
}

/// What a `try_flat_map` step holds until its record has parsed. The usual record gives
/// the step one item, whose outputs are held as the step returned them (an array, an
/// option: no list is allocated per record); only a second item collects them.
enum Held<I, U> {
    Nothing,
    One(I),
    Many(Vec<U>),
}

impl<U, I: IntoIterator<Item = U>> Held<I, U> {
    fn push(self, items: I) -> Self {
        match self {
            Held::Nothing => Held::One(items),
            Held::One(first) => {
                let mut all: Vec<U> = first.into_iter().collect();
                all.extend(items);
                Held::Many(all)
            }
            Held::Many(mut all) => {
                all.extend(items);
                Held::Many(all)
            }
        }
    }

    fn emit(self, emit: &mut dyn FnMut(U)) {
        match self {
            Held::Nothing => {}
            Held::One(items) => items.into_iter().for_each(emit),
            Held::Many(all) => all.into_iter().for_each(emit),
        }
    }
}

/// A keyed stream of `T` with keys `K`.
pub struct KeyedStream<K, T> {
    job: String,
    source: String,
    chain: Chain<(K, T)>,
}

impl<K: GroupKey, T: Send + 'static> KeyedStream<K, T> {
    /// A custom stateful operator with one `P::State` per key.
    pub fn process<P>(self, task: P) -> Stage<K, T, P::Out>
    where
        P: PersistentTask<Key = K, In = T> + Clone + Sync,
    {
        Stage {
            keyed: self,
            operator: Arc::new(move || Box::new(TaskOperator::new(task.clone()))),
            route_by_partition: false,
        }
    }
}

impl<K: GroupKey, X: Send + 'static, V: Send + 'static> KeyedStream<K, (X, V)> {
    /// Combines the values of each key with `monoid`; each key's new total is emitted once
    /// per checkpoint in which it changed (the "last value per key" is its current total).
    pub fn aggregate<M: Monoid<Value = V> + Clone>(self, monoid: M) -> Stage<K, (X, V), (K, V)>
    where
        V: Serialize + DeserializeOwned,
    {
        Stage {
            keyed: self,
            operator: Arc::new(move || Box::new(AggregateOperator::new(monoid.clone()))),
            route_by_partition: false,
        }
    }

    /// Combines the values of each key per event-time window; a window is emitted once the
    /// clock passes its end (plus the allowed lateness) and then dropped.
    pub fn window_aggregate<M: Monoid<Value = V> + Clone>(
        self,
        monoid: M,
        assigner: WindowAssigner,
        late_policy: LatePolicy,
    ) -> Stage<K, (X, V), Windowed<K, V>>
    where
        V: Serialize + DeserializeOwned,
    {
        Stage {
            keyed: self,
            operator: Arc::new(move || {
                Box::new(WindowOperator::new(monoid.clone(), assigner, late_policy))
            }),
            route_by_partition: false,
        }
    }
}

impl<K: GroupKey, X: Send + 'static, V: Send + 'static> KeyedStream<K, (X, V)> {
    /// Like [`aggregate`](Self::aggregate), but each key changed in a checkpoint emits a
    /// [`Change`]: the values applied since its previous change combined (the delta), its
    /// new total and a per-key sequence number. What a stage sends on to a stage keyed
    /// otherwise (see [`Pipeline`](crate::pipeline::Pipeline)).
    pub fn aggregate_changes<M: Monoid<Value = V> + Clone>(
        self,
        monoid: M,
    ) -> Stage<K, (X, V), Change<K, V>>
    where
        V: Serialize + DeserializeOwned,
    {
        Stage {
            keyed: self,
            operator: Arc::new(move || Box::new(ChangesOperator::new(monoid.clone()))),
            route_by_partition: false,
        }
    }
}

/// A keyed stream with its stateful operator; a sink follows, after any number of `map`s.
pub struct Stage<K, T, O> {
    keyed: KeyedStream<K, T>,
    operator: OperatorFactory<K, T, O>,
    route_by_partition: bool,
}

impl<K: GroupKey, T: Send + 'static, O: Send + 'static> Stage<K, T, O> {
    /// Maps each output of the operator (e.g. re-keys it for the next stage of a
    /// pipeline: the record key picks the output partition).
    pub fn map<U: Send + 'static>(
        self,
        f: impl Fn(O) -> U + Send + Sync + 'static,
    ) -> Stage<K, T, U> {
        let inner = self.operator;
        let map: Arc<dyn Fn(O) -> U + Send + Sync> = Arc::new(f);
        Stage {
            keyed: self.keyed,
            operator: Arc::new(move || {
                Box::new(MapOutputs {
                    inner: inner(),
                    map: map.clone(),
                    scratch: Vec::new(),
                })
            }),
            route_by_partition: self.route_by_partition,
        }
    }
}

impl<K: GroupKey, T: Send + 'static, O: OutputRecord> Stage<K, T, O> {
    /// Writes the operator's outputs to `topic`; the job is complete.
    pub fn sink(self, topic: LogTopic) -> Job {
        let keyed = self.keyed;
        let plan = TypedPlan {
            chain: keyed.chain,
            operator: self.operator,
            route_by_partition: self.route_by_partition,
        };
        Job {
            spec: JobSpec {
                kind: keyed.job.clone(),
                name: keyed.job,
                source: keyed.source,
                sink: topic.name,
                audit: None,
                dead_letters: None,
                key_groups: KEY_GROUPS_DEFAULT,
            },
            plan: Arc::new(plan),
        }
    }
}
