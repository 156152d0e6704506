//! [`Log`]: topics of partitions in one directory, the public face of the embedded log.

mod extension;
mod flusher;
mod load;

use crate::batch::{ControlKind, EncodedBatch, ProducerStamp, Record, StoredRecord};
use crate::config::{Durability, LogConfig};
use crate::error::{AppendError, MaintenanceError, OpenError, ReadError, TopicError};
use crate::partition::{
    lock, AppendOutcome, FailStop, Inconsistency, Isolation, Mode, Partition, PartitionInfo,
    ProducerSummary, ReadBatch, RecoveryEvent,
};
use crate::scan::Scan;
use crate::scope::{ScopeLocks, WriteScope};
use crate::topic::{validate_topic_name, PARTITIONS_MAX};
use exactly_core::storage::write_file_atomically;
use exactly_core::{Clock, Offset, ProducerEpoch, ProducerId, Storage, Timestamp};
pub(crate) use extension::Extension;
use flusher::{spawn_flusher, Flusher};
use load::Existing;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

const TOPIC_META_FILE: &str = crate::topic_meta::FILE_NAME;

struct Topic {
    partitions: Vec<Arc<Partition>>,
}

struct LogInner {
    dir: PathBuf,
    storage: Arc<dyn Storage>,
    clock: Arc<dyn Clock>,
    config: Arc<LogConfig>,
    fail: Arc<FailStop>,
    topics: RwLock<BTreeMap<String, Arc<Topic>>>,
    mode: Mode,
    // `None`: the whole log (as `mode` says); `Some`: only these topics are written, every
    // other topic is followed read-only through `follow_storage`.
    scope: Option<WriteScope>,
    follow_storage: Arc<dyn Storage>,
    // The transaction coordinator's state, which the log never looks into (`Extension`).
    extension: OnceLock<Box<dyn Extension>>,
}

/// An embedded durable log: topics with partitions of segment files in one directory.
///
/// Appends may come from many threads; each partition group-commits them. Readers see only
/// records that are durable (except under [`Durability::None`]).
pub struct Log {
    inner: Arc<LogInner>,
    flusher: Option<Flusher>,
    // Held for the life of the handle: one process per log directory.
    _dir_lock: Option<std::fs::File>,
    // Held for the life of a scoped handle: `LOCK` shared, each owned topic exclusive.
    _scope_locks: Option<ScopeLocks>,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log").field("dir", &self.inner.dir).finish()
    }
}

fn topic_io(path: &Path) -> impl FnOnce(std::io::Error) -> TopicError + '_ {
    move |source| TopicError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Log {
    /// Opens the partitions of every topic (recovering owned ones), without the
    /// transaction coordinator's recovery (the constructors in `open` run it).
    pub(crate) fn open_in_mode(
        opening: Opening,
        clock: Arc<dyn Clock>,
        dir: impl AsRef<Path>,
        config: LogConfig,
    ) -> Result<Self, OpenError> {
        let Opening {
            storage,
            follow_storage,
            mode,
            scope,
        } = opening;
        config.validate().map_err(OpenError::BadConfig)?;
        let dir = dir.as_ref().to_path_buf();
        if mode == Mode::ReadWrite {
            storage
                .create_dir_all(&dir)
                .map_err(|source| OpenError::Io {
                    path: dir.clone(),
                    source,
                })?;
        }
        let inner = Arc::new(LogInner {
            dir,
            storage,
            clock,
            config: Arc::new(config),
            fail: Arc::new(FailStop::default()),
            topics: RwLock::new(BTreeMap::new()),
            mode,
            scope,
            follow_storage,
            extension: OnceLock::new(),
        });
        inner.load_topics()?;
        let flusher = match (inner.config.durability, mode) {
            (Durability::Interval(ms), Mode::ReadWrite) => Some(spawn_flusher(&inner, ms)?),
            _ => None,
        };
        Ok(Self {
            inner,
            flusher,
            _dir_lock: None,
            _scope_locks: None,
        })
    }

    /// Keeps the directory and topic locks for the life of the handle.
    pub(crate) fn hold_locks(
        &mut self,
        dir_lock: Option<std::fs::File>,
        scope_locks: Option<ScopeLocks>,
    ) {
        self._dir_lock = dir_lock;
        self._scope_locks = scope_locks;
    }

    /// The log's directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The storage the log writes its files through.
    pub(crate) fn storage(&self) -> &dyn Storage {
        self.inner.storage.as_ref()
    }

    /// The log's configuration.
    pub fn config(&self) -> &LogConfig {
        &self.inner.config
    }

    /// The write scope the log was opened with (`None`: the whole log, or read-only).
    pub fn write_scope(&self) -> Option<&WriteScope> {
        self.inner.scope.as_ref()
    }

    /// Whether this handle writes `topic` (it is not read-only and `topic` is in its scope).
    pub fn owns_topic(&self, topic: &str) -> bool {
        self.inner.owns(topic)
    }

    /// Creates a topic with `partitions` partitions. Creating an existing topic with the same
    /// count is a no-op; with another count it is an error.
    pub fn create_topic(&self, name: &str, partitions: u32) -> Result<(), TopicError> {
        validate_topic_name(name)?;
        if self.inner.mode == Mode::ReadOnly {
            return Err(TopicError::ReadOnly);
        }
        // Holding the topic's lock since before the topics were loaded is what makes this
        // creation safe against other scoped writers: nobody else can create it meanwhile.
        if !self.owns_topic(name) {
            return Err(TopicError::NotOwned {
                topic: name.to_string(),
            });
        }
        if partitions == 0 || partitions > PARTITIONS_MAX {
            return Err(TopicError::InvalidPartitions { partitions });
        }
        let mut topics = self.inner.topics.write().unwrap_or_else(|e| e.into_inner());
        if let Some(existing) = topics.get(name) {
            let count = existing.partitions.len() as u32;
            return match count == partitions {
                true => Ok(()),
                false => Err(TopicError::AlreadyExists {
                    topic: name.to_string(),
                    partitions: count,
                }),
            };
        }
        // Partitions first, the metadata file last: it is the commit point of the creation.
        let topic = self
            .inner
            .open_topic(name, partitions, Existing::Create)
            .map_err(Box::new)?;
        let topic_dir = self.inner.dir.join(name);
        let meta_path = topic_dir.join(TOPIC_META_FILE);
        // An empty metadata file used to be written on an encoding failure: the topic then
        // failed to open ("does not parse") with its partitions already on disk.
        let meta = crate::topic_meta::encode(partitions).map_err(|e| TopicError::Io {
            path: meta_path.clone(),
            source: std::io::Error::other(e),
        })?;
        write_file_atomically(self.inner.storage.as_ref(), &meta_path, &meta)
            .map_err(topic_io(&meta_path))?;
        self.inner
            .storage
            .sync_dir(&self.inner.dir)
            .map_err(topic_io(&self.inner.dir))?;
        topics.insert(name.to_string(), Arc::new(topic));
        Ok(())
    }

    /// Topic names with their partition counts.
    pub fn topics(&self) -> Vec<(String, u32)> {
        let topics = self.inner.topics.read().unwrap_or_else(|e| e.into_inner());
        topics
            .iter()
            .map(|(name, t)| (name.clone(), t.partitions.len() as u32))
            .collect()
    }

    /// Partition count of `topic`.
    pub fn partition_count(&self, topic: &str) -> Option<u32> {
        let topics = self.inner.topics.read().unwrap_or_else(|e| e.into_inner());
        topics.get(topic).map(|t| t.partitions.len() as u32)
    }

    fn partition(&self, topic: &str, partition: u32) -> Result<Arc<Partition>, (String, u32)> {
        let topics = self.inner.topics.read().unwrap_or_else(|e| e.into_inner());
        let t = topics.get(topic).ok_or((topic.to_string(), 0))?;
        t.partitions
            .get(partition as usize)
            .cloned()
            .ok_or((topic.to_string(), t.partitions.len() as u32))
    }

    fn append_target(&self, topic: &str, partition: u32) -> Result<Arc<Partition>, AppendError> {
        if self.inner.scope.is_some() && !self.inner.owns(topic) {
            return Err(AppendError::NotOwned {
                topic: topic.to_string(),
            });
        }
        self.partition(topic, partition)
            .map_err(|(topic, partitions)| match partitions {
                0 => AppendError::UnknownTopic { topic },
                _ => AppendError::UnknownPartition {
                    topic,
                    partition,
                    partitions,
                },
            })
    }

    fn read_target(&self, topic: &str, partition: u32) -> Result<Arc<Partition>, ReadError> {
        self.partition(topic, partition)
            .map_err(|(topic, partitions)| match partitions {
                0 => ReadError::UnknownTopic { topic },
                _ => ReadError::UnknownPartition {
                    topic,
                    partition,
                    partitions,
                },
            })
    }

    /// Appends `records` as one batch. With a `producer` stamp the append is idempotent:
    /// a retry of an appended batch returns [`AppendOutcome::Duplicate`] and writes nothing.
    pub fn append(
        &self,
        topic: &str,
        partition: u32,
        records: &[Record],
        producer: Option<ProducerStamp>,
    ) -> Result<AppendOutcome, AppendError> {
        reject_internal(topic)?;
        self.append_internal(topic, partition, records, producer, 0)
    }

    /// Appends with explicit attributes, to any topic (transactions, internal topics).
    pub(crate) fn append_internal(
        &self,
        topic: &str,
        partition: u32,
        records: &[Record],
        producer: Option<ProducerStamp>,
        attributes: u8,
    ) -> Result<AppendOutcome, AppendError> {
        let target = self.append_target(topic, partition)?;
        let max = self.inner.config.batch_bytes_max;
        let mut batch = EncodedBatch::encode(records, producer, attributes, max)?;
        target.append(&mut batch)
    }

    /// Appends without waiting for durability (records whose loss a crash can repair).
    pub(crate) fn append_internal_lazily(
        &self,
        topic: &str,
        partition: u32,
        records: &[Record],
    ) -> Result<AppendOutcome, AppendError> {
        let target = self.append_target(topic, partition)?;
        let max = self.inner.config.batch_bytes_max;
        let mut batch = EncodedBatch::encode(records, None, 0, max)?;
        target.append_waiting(&mut batch, false)
    }

    /// Makes one partition's writes durable.
    pub(crate) fn flush_partition(&self, topic: &str, partition: u32) -> Result<(), AppendError> {
        self.append_target(topic, partition)?.flush()
    }

    /// Writes a transaction marker (see `Partition::append_marker`).
    pub(crate) fn append_marker(
        &self,
        topic: &str,
        partition: u32,
        producer_id: ProducerId,
        epoch: ProducerEpoch,
        fence_epoch: ProducerEpoch,
        kind: ControlKind,
    ) -> Result<Option<Offset>, AppendError> {
        self.append_target(topic, partition)?
            .append_marker(producer_id, epoch, fence_epoch, kind)
    }

    /// Writes a transaction marker, not yet durable (`Partition::append_marker_trailing`).
    pub(crate) fn append_marker_trailing(
        &self,
        topic: &str,
        partition: u32,
        producer_id: ProducerId,
        epoch: ProducerEpoch,
        fence_epoch: ProducerEpoch,
        kind: ControlKind,
    ) -> Result<crate::partition::MarkerSync, AppendError> {
        self.append_target(topic, partition)?
            .append_marker_trailing(producer_id, epoch, fence_epoch, kind)
    }

    /// Every partition of every topic with its open transactions (for reconciliation).
    pub(crate) fn open_transactions(&self) -> Vec<(String, u32, Vec<crate::producer::OngoingTxn>)> {
        let topics = self.inner.topics.read().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        for (name, topic) in topics.iter() {
            for (p, partition) in topic.partitions.iter().enumerate() {
                let open = partition.info().open_transactions;
                if !open.is_empty() {
                    out.push((name.clone(), p as u32, open));
                }
            }
        }
        out
    }

    /// The log's wall clock.
    pub(crate) fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// The slot a layer built on the log fills with its per-handle state (the transaction
    /// coordinator); the log never looks into it.
    pub(crate) fn extension(&self) -> &OnceLock<Box<dyn Extension>> {
        &self.inner.extension
    }

    /// Appends an already encoded batch (encoding can then happen off the caller's path).
    pub fn append_encoded(
        &self,
        topic: &str,
        partition: u32,
        batch: &mut EncodedBatch,
    ) -> Result<AppendOutcome, AppendError> {
        reject_internal(topic)?;
        self.append_target(topic, partition)?.append(batch)
    }

    /// Reads up to `max_records` committed records from `from` on (`read_committed`).
    /// Empty at the end of what is readable.
    pub fn read(
        &self,
        topic: &str,
        partition: u32,
        from: Offset,
        max_records: usize,
    ) -> Result<Vec<StoredRecord>, ReadError> {
        let batch = self.read_with(
            topic,
            partition,
            from,
            max_records,
            Isolation::ReadCommitted,
        )?;
        Ok(batch.records)
    }

    /// Reads with an explicit isolation; `next_offset` tells where to continue (markers and
    /// aborted batches occupy offsets but are never returned).
    pub fn read_with(
        &self,
        topic: &str,
        partition: u32,
        from: Offset,
        max_records: usize,
        isolation: Isolation,
    ) -> Result<ReadBatch, ReadError> {
        self.read_target(topic, partition)?
            .read_batch(from, max_records, isolation)
    }

    /// Every record of a partition from `from` to its end as of this call (the visible end,
    /// or under `read_committed` the last stable offset), one after the other; see
    /// [`Scan`] for exactly where it stops and how it fails.
    pub fn scan(
        &self,
        topic: &str,
        partition: u32,
        from: Offset,
        isolation: Isolation,
    ) -> Result<Scan, ReadError> {
        Scan::new(
            self.read_target(topic, partition)?,
            topic,
            partition,
            from,
            isolation,
        )
    }

    /// The first offset whose record has a timestamp ≥ `timestamp` (`None`: none yet).
    pub fn offset_for_time(
        &self,
        topic: &str,
        partition: u32,
        timestamp: Timestamp,
    ) -> Result<Option<Offset>, ReadError> {
        self.read_target(topic, partition)?
            .offset_for_time(timestamp)
    }

    /// Blocks until a record at `offset` is readable or `timeout` passes (tail following).
    pub fn wait_for(
        &self,
        topic: &str,
        partition: u32,
        offset: Offset,
        timeout: Duration,
    ) -> Result<bool, ReadError> {
        Ok(self
            .read_target(topic, partition)?
            .wait_visible(offset, timeout))
    }

    /// Offsets and sizes of a partition.
    pub fn partition_info(&self, topic: &str, partition: u32) -> Result<PartitionInfo, ReadError> {
        Ok(self.read_target(topic, partition)?.info())
    }

    /// What a partition remembers of an idempotent producer (to resume its sequence).
    pub fn producer_state(
        &self,
        topic: &str,
        partition: u32,
        producer_id: ProducerId,
    ) -> Result<Option<ProducerSummary>, ReadError> {
        Ok(self.read_target(topic, partition)?.producer(producer_id))
    }

    /// Checks the invariants of every partition's in-memory state (offsets monotone,
    /// segments contiguous and agreeing with their indexes and files, last stable offset ≤
    /// visible end ≤ written end, the producer table well formed). Debug builds check the
    /// state after every mutation; this runs the same checks, plus file lengths, on demand.
    pub fn check_consistency(&self) -> Result<(), Inconsistency> {
        self.all_partitions()
            .iter()
            .try_for_each(|p| p.check_consistency())
    }

    /// Truncations recovery made when the log was opened.
    pub fn recovery_events(&self) -> Vec<RecoveryEvent> {
        self.all_partitions()
            .iter()
            .flat_map(|p| p.recovery_events().to_vec())
            .collect()
    }

    fn all_partitions(&self) -> Vec<Arc<Partition>> {
        let topics = self.inner.topics.read().unwrap_or_else(|e| e.into_inner());
        topics
            .values()
            .flat_map(|t| t.partitions.iter().cloned())
            .collect()
    }

    /// Makes everything written so far durable.
    pub fn flush(&self) -> Result<(), MaintenanceError> {
        for partition in self.all_partitions() {
            partition.flush().map_err(maintenance)?;
        }
        Ok(())
    }

    /// Deletes segments beyond the retention limits; returns how many were deleted.
    pub fn enforce_retention(&self) -> usize {
        self.all_partitions()
            .iter()
            .map(|p| p.enforce_retention())
            .sum()
    }

    /// Flushes and snapshots producer state so the next open is fast.
    pub fn close(mut self) -> Result<(), MaintenanceError> {
        if let Some(extension) = self.inner.extension.get() {
            extension.before_close(&self)?;
        }
        self.stop_flusher();
        for partition in self.all_partitions() {
            partition.checkpoint_producers().map_err(maintenance)?;
        }
        Ok(())
    }

    fn stop_flusher(&mut self) {
        if let Some(mut flusher) = self.flusher.take() {
            *lock(&flusher.stop.0) = true;
            flusher.stop.1.notify_all();
            if let Some(thread) = flusher.thread.take() {
                let _ = thread.join();
            }
        }
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        self.stop_flusher();
        if matches!(self.inner.config.durability, Durability::Interval(_)) {
            // Best effort: an interval log should not lose its last interval to a clean drop.
            let _ = self.flush();
        }
    }
}

/// Topics whose names start with `__` belong to the log (transactions, offsets).
fn reject_internal(topic: &str) -> Result<(), AppendError> {
    match topic.starts_with("__") {
        true => Err(AppendError::InternalTopic {
            topic: topic.to_string(),
        }),
        false => Ok(()),
    }
}

pub(crate) fn lock_dir(dir: &Path) -> Result<std::fs::File, OpenError> {
    match exactly_core::storage::lock_directory(dir) {
        Ok(Some(file)) => Ok(file),
        Ok(None) => Err(OpenError::Locked {
            path: dir.join(exactly_core::storage::LOCK_FILE),
        }),
        Err(source) => Err(OpenError::Io {
            path: dir.to_path_buf(),
            source,
        }),
    }
}

fn maintenance(error: AppendError) -> MaintenanceError {
    match error {
        AppendError::FailStopped { reason } => MaintenanceError::FailStopped { reason },
        other => MaintenanceError::FailStopped {
            reason: other.to_string(),
        },
    }
}

/// How a handle opens its partitions: storage for owned topics and for followed ones, the
/// handle's mode, its write scope.
pub(crate) struct Opening {
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) follow_storage: Arc<dyn Storage>,
    pub(crate) mode: Mode,
    pub(crate) scope: Option<WriteScope>,
}

impl Opening {
    /// The whole log in `mode` on `storage`.
    pub(crate) fn whole(storage: Arc<dyn Storage>, mode: Mode) -> Self {
        Self {
            follow_storage: Arc::clone(&storage),
            storage,
            mode,
            scope: None,
        }
    }
}

impl LogInner {
    /// Whether this handle writes `topic`.
    fn owns(&self, topic: &str) -> bool {
        self.mode == Mode::ReadWrite && self.scope.as_ref().is_none_or(|s| s.owns(topic))
    }
}
