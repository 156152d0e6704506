//! [`LogOutput`]: the embedded log as a job's [`Output`] — plain appends, the sinks'
//! transactions, the job's idempotent producer for write-ahead outputs
//! (`write_ahead.rs`), and the journal topic (`journal.rs`).

use super::context::{sink_txn_prefix, SINK_TXN_TIMEOUT_MS};
use super::error::RunError;
use super::journal::{self, JournalEntry};
use super::manifest::Manifest;
use super::output::Output;
use super::report::RecoveryReport;
use super::write_ahead::{self, producer_id, Sequences};
use exactly_log::{Log, Record, TxnState};

/// Bytes of records per append or send, at most (and at most half the log's batch limit).
const SEND_BYTES_MAX: usize = 1 << 20;

/// The embedded log as a job's output.
#[derive(Clone, Copy, Debug)]
pub struct LogOutput<'a> {
    log: &'a Log,
}

impl<'a> LogOutput<'a> {
    /// The outputs of a job in `log`.
    pub fn new(log: &'a Log) -> Self {
        Self { log }
    }
}

impl Output for LogOutput<'_> {
    fn describe(&self) -> String {
        format!("log {}", self.log.dir().display())
    }

    fn partition_count(&self, topic: &str) -> Result<Option<u32>, RunError> {
        Ok(self.log.partition_count(topic))
    }

    fn ensure_topic(&self, topic: &str, partitions: u32) -> Result<u32, RunError> {
        if let Some(existing) = self.log.partition_count(topic) {
            return Ok(existing);
        }
        self.log.create_topic(topic, partitions)?;
        Ok(partitions)
    }

    fn append_bytes_max(&self) -> usize {
        SEND_BYTES_MAX.min(self.log.config().batch_bytes_max as usize / 2)
    }

    fn append(&self, topic: &str, partition: u32, records: &[Record]) -> Result<(), RunError> {
        self.log
            .append(topic, partition, records, None)
            .inspect_err(
                |error| tracing::error!(topic = %topic, partition, %error, "appending outputs"),
            )?;
        Ok(())
    }

    fn transactional_log(&self) -> Option<&Log> {
        Some(self.log)
    }

    fn settle(
        &self,
        job: &str,
        manifest: Option<&Manifest>,
        report: &mut RecoveryReport,
    ) -> Result<(), RunError> {
        settle_sink_transactions(self.log, job, manifest, report)
    }

    fn outputs_beyond(
        &self,
        job: &str,
        topics: &[String],
        manifest: Option<&Manifest>,
    ) -> Result<Option<String>, RunError> {
        if manifest.is_none() {
            let prefix = sink_txn_prefix(job);
            let committed = self.log.transactions()?.into_iter().find(|t| {
                t.transactional_id.starts_with(&prefix) && t.state == TxnState::CompleteCommit
            });
            if let Some(txn) = committed {
                return Ok(Some(format!(
                    "the log holds a committed transaction of this job ({})",
                    txn.transactional_id
                )));
            }
        }
        producer_beyond(self.log, job, topics, manifest)
    }

    fn publish_ahead(&self, job: &str, manifest: &Manifest) -> Result<u64, RunError> {
        write_ahead::publish(self.log, job, manifest)
    }

    fn journal_append(&self, entry: &JournalEntry, now_ms: i64) -> Result<(), RunError> {
        journal::append(self.log, entry, now_ms)
    }

    fn journal_last(&self, job: &str) -> Result<Option<JournalEntry>, RunError> {
        journal::last(self.log, job)
    }
}

/// The job's idempotent producer sequences in an output partition past what `manifest`
/// accounts for (outputs of a later manifest were published), if any.
fn producer_beyond(
    log: &Log,
    job: &str,
    topics: &[String],
    manifest: Option<&Manifest>,
) -> Result<Option<String>, RunError> {
    let sequences = match manifest {
        Some(manifest) => Sequences::after(manifest),
        // No manifest: the job's idempotent producer has published nothing.
        None => Sequences::default(),
    };
    let producer = producer_id(job);
    for topic in topics {
        // A topic that does not exist yet holds no records of this producer.
        let Some(partitions) = log.partition_count(topic) else {
            continue;
        };
        for partition in 0..partitions {
            let held = log
                .producer_state(topic, partition, producer)?
                .and_then(|s| s.last_sequence)
                .map_or(0, |last| last.0 + 1);
            let accounted = sequences.next(&(topic.clone(), partition));
            if held > accounted {
                return Ok(Some(format!(
                    "{topic} partition {partition} holds {held} outputs of this job's \
                     idempotent producer, the checkpoint accounts for {accounted}"
                )));
            }
        }
    }
    Ok(None)
}

/// A sink transaction for checkpoint *n* is prepared before manifest *n* is written and
/// committed after. So after a crash, a prepared transaction named in the newest manifest
/// (same id parity) belongs to it and is committed; any other open or prepared sink
/// transaction belongs to a checkpoint that never completed and is aborted.
fn settle_sink_transactions(
    log: &Log,
    job: &str,
    manifest: Option<&Manifest>,
    report: &mut RecoveryReport,
) -> Result<(), RunError> {
    let prefix = sink_txn_prefix(job);
    for meta in log.transactions()? {
        let open = matches!(
            meta.state,
            TxnState::Ongoing
                | TxnState::Prepared
                | TxnState::PrepareCommit
                | TxnState::PrepareAbort
        );
        if !open || !meta.transactional_id.starts_with(&prefix) {
            continue;
        }
        // Taking the producer over fences the old instance, aborts an ongoing transaction
        // and finishes a decided one; only a prepared one is left for us to decide.
        let mut producer =
            log.transactional_producer(&meta.transactional_id, SINK_TXN_TIMEOUT_MS)?;
        if !producer.is_prepared() {
            if meta.state == TxnState::Ongoing {
                report.aborted_transactions += 1;
            }
            continue;
        }
        let covered =
            manifest.is_some_and(|m| m.sink_transactions.contains(&meta.transactional_id));
        if covered {
            producer.commit()?;
            report.committed_transactions += 1;
        } else {
            producer.abort()?;
            report.aborted_transactions += 1;
        }
    }
    Ok(())
}
