//! Opening the topics of a log directory: reading each `topic.json`, checking its
//! partitions exist, and opening every partition in the handle's mode (owned or followed).

use super::{LogInner, Topic, TOPIC_META_FILE};
use crate::config::LogConfig;
use crate::error::OpenError;
use crate::meters::PartitionMeters;
use crate::partition::{Mode, Partition};
use crate::topic::{validate_topic_name, PARTITIONS_MAX};
use exactly_core::storage::read_file;
use std::path::Path;
use std::sync::Arc;

/// Largest segment of an internal topic (`__transactions`, `__consumer_offsets`).
const INTERNAL_SEGMENT_BYTES: u64 = 8 << 20;

/// Whether [`LogInner::open_topic`] opens a committed topic (its partitions must exist) or
/// creates one.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Existing {
    MustExist,
    Create,
}

impl LogInner {
    pub(super) fn load_topics(&self) -> Result<(), OpenError> {
        let names = self
            .storage
            .list_dir(&self.dir)
            .map_err(|source| OpenError::Io {
                path: self.dir.clone(),
                source,
            })?;
        let mut topics = self.topics.write().unwrap_or_else(|e| e.into_inner());
        for name in names {
            let meta_path = self.dir.join(&name).join(TOPIC_META_FILE);
            // An unreadable metadata path is an error: treating it as "not a topic" made
            // the whole topic silently disappear from the log.
            let is_topic = validate_topic_name(&name).is_ok()
                && self
                    .storage
                    .exists(&meta_path)
                    .map_err(|source| OpenError::Io {
                        path: meta_path.clone(),
                        source,
                    })?;
            if !is_topic {
                // Not a topic, or a creation that crashed before its commit point.
                continue;
            }
            let bytes =
                read_file(self.storage.as_ref(), &meta_path).map_err(|source| OpenError::Io {
                    path: meta_path.clone(),
                    source,
                })?;
            let partitions =
                crate::topic_meta::decode(&bytes, PARTITIONS_MAX).map_err(|reason| {
                    OpenError::Corrupt {
                        file: meta_path.clone(),
                        position: 0,
                        reason,
                    }
                })?;
            let topic = self.open_topic(&name, partitions, Existing::MustExist)?;
            topics.insert(name, Arc::new(topic));
        }
        Ok(())
    }

    /// A partition of a committed topic (its `topic.json` exists) must exist: its
    /// directories are made before the metadata. A missing one was removed, and opening
    /// would recreate it empty, silently losing what it held.
    fn check_partition_exists(&self, dir: &Path) -> Result<(), OpenError> {
        let exists = self.storage.exists(dir).map_err(|source| OpenError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        match exists {
            true => Ok(()),
            false => Err(OpenError::Corrupt {
                file: dir.to_path_buf(),
                position: 0,
                reason: format!("partition directory missing although {TOPIC_META_FILE} names it"),
            }),
        }
    }

    pub(super) fn open_topic(
        &self,
        name: &str,
        partitions: u32,
        existing: Existing,
    ) -> Result<Topic, OpenError> {
        let mut opened = Vec::with_capacity(partitions as usize);
        // Internal topics hold transaction state and group positions: retention must never
        // delete them (the coordinator's snapshot, not retention, bounds what is replayed).
        // Small segments: opening scans the active segment, and the coordinator replays
        // only the tail after its snapshot.
        let config = match name.starts_with("__") {
            true => Arc::new(LogConfig {
                retention_bytes: None,
                retention_ms: None,
                segment_bytes_max: self.config.segment_bytes_max.min(INTERNAL_SEGMENT_BYTES),
                ..(*self.config).clone()
            }),
            false => Arc::clone(&self.config),
        };
        let (mode, storage) = match self.owns(name) {
            true => (Mode::ReadWrite, &self.storage),
            false => (Mode::ReadOnly, &self.follow_storage),
        };
        // A scoped writer's followed topics feed jobs that commit what they read: show
        // them only what their owner has made durable.
        let durable_only = mode == Mode::ReadOnly && self.scope.is_some();
        for p in 0..partitions {
            let dir = self.dir.join(name).join(p.to_string());
            if existing == Existing::MustExist {
                self.check_partition_exists(&dir)?;
            }
            let partition = Partition::open(
                dir,
                Arc::clone(storage),
                Arc::clone(&self.clock),
                Arc::clone(&config),
                Arc::clone(&self.fail),
                mode,
                PartitionMeters::new(name, p),
            )?;
            opened.push(Arc::new(match durable_only {
                true => partition.follow_durable_only(),
                false => partition,
            }));
        }
        if mode == Mode::ReadWrite {
            let topic_dir = self.dir.join(name);
            self.storage
                .sync_dir(&topic_dir)
                .map_err(|source| OpenError::Io {
                    path: topic_dir,
                    source,
                })?;
        }
        Ok(Topic { partitions: opened })
    }
}
