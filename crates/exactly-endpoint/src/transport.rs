//! Endpoints over the embedded log: [`LogSource`] reads a topic into [`Delivery`]s,
//! [`LogPublisher`] appends outbox entries. Both stay behind small interfaces
//! ([`Source`], [`Publisher`]); the NATS JetStream transport of `exactly-nats` implements
//! the same two.

use crate::message::{decode_envelope, encode_envelope, Delivery, Message, OutboxEntry, Position};
use crate::runtime::{PublishError, Publisher};
use crate::MessageId;
use exactly_core::{Clock, Offset, SystemClock, Timestamp};
use exactly_log::{partition_for_key, Isolation, Log, Record, StoredRecord};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Reading a source topic failed.
#[derive(Debug, thiserror::Error)]
#[error("reading {topic}: {reason}")]
pub struct SourceError {
    /// Source topic.
    pub topic: String,
    /// What failed.
    pub reason: String,
    /// Whether a new session may cure it (the transport's server or network failed), as
    /// opposed to a missing topic or damaged data.
    pub transient: bool,
}

/// Where an endpoint's deliveries come from: the embedded log ([`LogSource`]) or a NATS
/// JetStream consumer (in `exactly-nats`), resuming from the positions the store
/// committed.
pub trait Source {
    /// Up to `max` deliveries, waiting up to `timeout` for the first one.
    fn poll(&mut self, max: usize, timeout: Duration) -> Result<Vec<Delivery>, SourceError>;
    /// Whether everything published so far has been delivered.
    fn caught_up(&self) -> Result<bool, SourceError>;
    /// `deliveries` (the last ones polled, in order) are committed in the store: a source
    /// with server-side acknowledgments sends them now, never before. The store's
    /// positions stay the authority on where reading resumes.
    fn committed(&mut self, deliveries: &[Delivery]) -> Result<(), SourceError> {
        let _ = deliveries; // Nothing to acknowledge on a log read by position.
        Ok(())
    }
    /// Partitions whose committed position was past their end when the source opened.
    fn lost_tails(&self) -> &[LostTail] {
        &[]
    }
}

impl Source for LogSource {
    fn poll(&mut self, max: usize, timeout: Duration) -> Result<Vec<Delivery>, SourceError> {
        LogSource::poll(self, max, timeout)
    }
    fn caught_up(&self) -> Result<bool, SourceError> {
        LogSource::caught_up(self)
    }
    fn lost_tails(&self) -> &[LostTail] {
        LogSource::lost_tails(self)
    }
}

/// A committed position past the end of its source partition: the source lost records
/// the endpoint had already read (its writer's machine crashed before its fsync).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LostTail {
    /// Source topic.
    pub topic: String,
    /// Partition.
    pub partition: u32,
    /// The durable end of the partition, where reading resumes.
    pub end_offset: u64,
    /// The committed position (one past the last record the endpoint processed).
    pub committed_offset: u64,
}

impl std::fmt::Display for LostTail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "source {}/{} lost offsets {}..{} that were already processed; resuming at {}",
            self.topic, self.partition, self.end_offset, self.committed_offset, self.end_offset
        )
    }
}

/// Reads one topic of a log from the positions the store committed.
#[derive(Debug)]
pub struct LogSource {
    log: Arc<Log>,
    topic: String,
    next: Vec<u64>,
    turn: usize,
    lost_tails: Vec<LostTail>,
}

impl LogSource {
    /// A source on `topic`, resuming from `committed` (positions of other topics are
    /// ignored; a partition without a position starts at its first offset).
    ///
    /// A committed position past the partition's durable end means the source lost a tail
    /// the endpoint had read: reading resumes at the end (never from the start, which
    /// would lean on the inbox remembering every id ever processed), and the gap is
    /// reported by [`LogSource::lost_tails`] for the caller to log. Messages the writer
    /// republishes there are new offsets with their old ids: the inbox drops those it
    /// processed.
    pub fn new(log: Arc<Log>, topic: &str, committed: &[Position]) -> Result<Self, SourceError> {
        let partitions = log.partition_count(topic).ok_or_else(|| SourceError {
            topic: topic.to_string(),
            reason: "no such topic".to_string(),
            transient: false,
        })?;
        let mut next = vec![0u64; partitions as usize];
        let mut lost_tails = Vec::new();
        for p in committed.iter().filter(|p| p.topic == topic) {
            let info = log
                .partition_info(topic, p.partition)
                .map_err(|e| SourceError {
                    topic: topic.to_string(),
                    reason: e.to_string(),
                    transient: false,
                })?;
            // Past everything written, even unsynced: those offsets are gone. Resume at the
            // durable end, where the next record readers may see will be.
            let resume = match p.next_offset > info.written_offset.0 {
                true => {
                    lost_tails.push(LostTail {
                        topic: topic.to_string(),
                        partition: p.partition,
                        end_offset: info.end_offset.0,
                        committed_offset: p.next_offset,
                    });
                    info.end_offset.0
                }
                false => p.next_offset,
            };
            if let Some(slot) = next.get_mut(p.partition as usize) {
                *slot = resume;
            }
        }
        Ok(Self {
            log,
            topic: topic.to_string(),
            next,
            turn: 0,
            lost_tails,
        })
    }

    /// Partitions whose committed position was past their end when the source was
    /// created (see [`LogSource::new`]); the caller logs them as warnings.
    pub fn lost_tails(&self) -> &[LostTail] {
        &self.lost_tails
    }

    /// Up to `max` deliveries, waiting up to `timeout` for the first one. Partitions are
    /// read in turn so none starves.
    pub fn poll(&mut self, max: usize, timeout: Duration) -> Result<Vec<Delivery>, SourceError> {
        let out = self.read_round(max)?;
        if !out.is_empty() {
            return Ok(out);
        }
        let partition = self.turn % self.next.len().max(1);
        let from = self.next_offset(partition);
        self.log
            .wait_for(&self.topic, partition as u32, Offset(from), timeout)
            .map_err(|e| self.error(e))?;
        self.read_round(max)
    }

    fn read_round(&mut self, max: usize) -> Result<Vec<Delivery>, SourceError> {
        let mut out = Vec::new();
        let count = self.next.len();
        for _ in 0..count {
            let partition = self.turn % count;
            self.turn = self.turn.wrapping_add(1);
            let from = self.next_offset(partition);
            let batch = self
                .log
                .read_with(
                    &self.topic,
                    partition as u32,
                    Offset(from),
                    max - out.len(),
                    Isolation::ReadCommitted,
                )
                .map_err(|e| self.error(e))?;
            for record in batch.records {
                out.push(self.delivery(partition as u32, record));
            }
            if let Some(slot) = self.next.get_mut(partition) {
                *slot = batch.next_offset.0.max(*slot);
            }
            if out.len() >= max {
                break;
            }
        }
        Ok(out)
    }

    /// Where `partition` is read next. `next` has one slot per partition of the topic,
    /// sized when the source opens it (a topic has ≥ 1 partition: the log refuses 0), and
    /// callers take `partition` modulo its length.
    fn next_offset(&self, partition: usize) -> u64 {
        *self
            .next
            .get(partition)
            .expect("partition is a remainder of the slot count")
    }

    fn delivery(&self, partition: u32, record: StoredRecord) -> Delivery {
        let position = Position {
            topic: self.topic.clone(),
            partition,
            next_offset: record.offset.0 + 1,
        };
        let key = match record.key {
            Some(key) => key,
            None => Vec::new(), // A keyless record routes under the empty key.
        };
        let timestamp_ms = record.timestamp.as_ms();
        match decode_envelope(&record.value) {
            Ok((id, payload)) => Delivery {
                message: Message {
                    id,
                    key,
                    payload: payload.to_vec(),
                    timestamp_ms,
                },
                malformed: None,
                position,
            },
            Err(reason) => Delivery {
                message: Message {
                    id: MessageId::from_position(&self.topic, partition, record.offset.0),
                    key,
                    payload: record.value,
                    timestamp_ms,
                },
                malformed: Some(reason),
                position,
            },
        }
    }

    /// Whether every partition has been read up to its end.
    pub fn caught_up(&self) -> Result<bool, SourceError> {
        for (partition, next) in self.next.iter().enumerate() {
            let info = self
                .log
                .partition_info(&self.topic, partition as u32)
                .map_err(|e| self.error(e))?;
            if *next < info.end_offset.0 {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn error(&self, error: impl std::fmt::Display) -> SourceError {
        SourceError {
            topic: self.topic.clone(),
            reason: error.to_string(),
            transient: false,
        }
    }
}

/// Publishes outbox entries to topics of a log, partitioned by key. Plain (not
/// idempotent) appends: re-publishing after a crash writes copies, which the receiving
/// endpoint's inbox drops by id.
#[derive(Debug)]
pub struct LogPublisher {
    log: Arc<Log>,
    /// Stamps the records it appends.
    clock: Arc<dyn Clock>,
}

impl LogPublisher {
    /// A publisher on `log` stamping records with the system clock; topics must exist.
    pub fn new(log: Arc<Log>) -> Self {
        Self::with_clock(log, Arc::new(SystemClock))
    }

    /// A publisher on `log` stamping records with `clock`; topics must exist.
    pub fn with_clock(log: Arc<Log>, clock: Arc<dyn Clock>) -> Self {
        Self { log, clock }
    }
}

impl Publisher for LogPublisher {
    fn publish(&mut self, entries: &[OutboxEntry]) -> Result<(), PublishError> {
        let now = Timestamp(self.clock.now_ms());
        // One append per (topic, partition), in outbox order within each.
        let mut groups: BTreeMap<(&str, u32), Vec<Record>> = BTreeMap::new();
        let mut partitions: BTreeMap<&str, u32> = BTreeMap::new();
        for entry in entries {
            let count = match partitions.get(entry.topic.as_str()) {
                Some(count) => *count,
                None => {
                    let count =
                        self.log
                            .partition_count(&entry.topic)
                            .ok_or_else(|| PublishError {
                                topic: entry.topic.clone(),
                                reason: "no such topic".to_string(),
                                transient: false,
                            })?;
                    partitions.insert(&entry.topic, count);
                    count
                }
            };
            let partition = partition_for_key(&entry.key, count);
            groups
                .entry((&entry.topic, partition))
                .or_default()
                .push(Record {
                    timestamp: now,
                    key: Some(entry.key.clone()),
                    value: encode_envelope(entry.id, &entry.payload),
                });
        }
        for ((topic, partition), records) in groups {
            self.log
                .append(topic, partition, &records, None)
                .map_err(|e| PublishError {
                    topic: topic.to_string(),
                    reason: e.to_string(),
                    transient: false,
                })?;
        }
        Ok(())
    }
}
