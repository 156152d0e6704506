//! [`PartitionGuard`]: the last stage's task `g` writes only partition `g` of the job's
//! output topic.
//!
//! The output topic is shared by the last stage's tasks, and the JetStream sink keeps one
//! writer per stream (partition): it fences a writer that finds a higher epoch at the
//! tail, and the epochs of different tasks are unrelated. A task writing another task's
//! partition would fence or be fenced by a legitimate writer — so such a write is refused
//! before it reaches the topic, with an error naming the cause (the stage's outputs are
//! not keyed by its input's key).

use exactly_engine::{JournalEntry, Manifest, Output, RecoveryReport, RunError};
use exactly_log::{Log, Record};

/// An output that refuses writes to partitions of `topic` other than `partition`.
pub struct PartitionGuard<'a> {
    inner: &'a dyn Output,
    topic: String,
    partition: u32,
}

impl<'a> PartitionGuard<'a> {
    /// `inner`, writing only `partition` of `topic` (other topics pass).
    pub fn new(inner: &'a dyn Output, topic: &str, partition: u32) -> Self {
        Self {
            inner,
            topic: topic.to_string(),
            partition,
        }
    }

    fn check(&self, topic: &str, partition: u32) -> Result<(), RunError> {
        if topic != self.topic || partition == self.partition {
            return Ok(());
        }
        Err(RunError::Output {
            what: format!("writing {topic}/{partition}"),
            output: self.inner.describe(),
            source: format!(
                "the task owning partition {} of {topic} wrote to partition {partition}: \
                 the last stage's outputs must be keyed by its input's key",
                self.partition
            )
            .into(),
        })
    }
}

impl Output for PartitionGuard<'_> {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn partition_count(&self, topic: &str) -> Result<Option<u32>, RunError> {
        self.inner.partition_count(topic)
    }

    fn ensure_topic(&self, topic: &str, partitions: u32) -> Result<u32, RunError> {
        self.inner.ensure_topic(topic, partitions)
    }

    fn append_bytes_max(&self) -> usize {
        self.inner.append_bytes_max()
    }

    fn append(&self, topic: &str, partition: u32, records: &[Record]) -> Result<(), RunError> {
        self.check(topic, partition)?;
        self.inner.append(topic, partition, records)
    }

    fn transactional_log(&self) -> Option<&Log> {
        self.inner.transactional_log()
    }

    fn settle(
        &self,
        job: &str,
        manifest: Option<&Manifest>,
        report: &mut RecoveryReport,
    ) -> Result<(), RunError> {
        self.inner.settle(job, manifest, report)
    }

    fn outputs_beyond(
        &self,
        job: &str,
        topics: &[String],
        manifest: Option<&Manifest>,
    ) -> Result<Option<String>, RunError> {
        self.inner.outputs_beyond(job, topics, manifest)
    }

    fn publish_ahead(&self, job: &str, manifest: &Manifest) -> Result<u64, RunError> {
        for (topic, partition) in manifest.write_ahead.keys() {
            self.check(topic, *partition)?;
        }
        self.inner.publish_ahead(job, manifest)
    }

    fn journal_append(&self, entry: &JournalEntry, now_ms: i64) -> Result<(), RunError> {
        self.inner.journal_append(entry, now_ms)
    }

    fn journal_last(&self, job: &str) -> Result<Option<JournalEntry>, RunError> {
        self.inner.journal_last(job)
    }
}
