//! [`NatsPublisher`]: an endpoint's outbox published to topics on JetStream.
//!
//! Each outbox entry becomes one message: payload the endpoint envelope (`magic | id |
//! payload`, as on the embedded log), `Nats-Msg-Id` the outbox message id (hex), key and
//! timestamp headers as for any record, and `Exactly-Origin: <endpoint>.<outbox seq>` —
//! the entry's place in the endpoint's outbox order.
//!
//! The dispatcher is at-least-once by design (publish, then mark), so after a crash it
//! publishes again entries that may already be stored. The message id makes JetStream drop
//! such a copy **inside its duplicate window** only. This publisher does not rely on it;
//! per partition it uses the engine sink's tail protocol:
//! 1. read the tail and the endpoint's last entry there (by `Exactly-Origin`; one lookup
//!    when the tail is the endpoint's own) — entries up to that outbox seq are stored;
//! 2. publish the rest pipelined, conditional on the partition's last sequence (and each
//!    on its predecessor's id), so they land contiguously right after it or not at all;
//! 3. on a refused expectation, a lost acknowledgment or a timeout, go back to 1
//!    (bounded); what is known after a success is kept, so the next publish needs no tail
//!    read.
//!
//! So each entry is stored once in the stream **whatever time passed** between the crash
//! and the republish, as long as the stream keeps the endpoint's last entry (retention)
//! and entries are dispatched in outbox order (they are). A second process dispatching the
//! same outbox (a zombie) is refused by the conditional publish and then skips what the
//! other stored. Downstream, the receiving endpoint's inbox still drops any copy by id —
//! the end-to-end guarantee rests on the inbox, the stream's lack of copies on this
//! protocol, and neither on the duplicate window.

use crate::blocking::{NatsLog, Topic};
use crate::error::NatsError;
use crate::record::{OutRecord, StoredRecord};
use crate::scan::last_matching;
use exactly_core::{Clock, SystemClock};
use exactly_endpoint::message::encode_envelope;
use exactly_endpoint::{OutboxEntry, PublishError, Publisher};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Rounds of "read the tail, publish the rest" before a partition's publish fails.
const PUBLISH_ROUNDS_MAX: u32 = 8;

/// What is known of a partition after a successful publish.
#[derive(Clone, Copy, Debug)]
struct Known {
    /// The stream's last sequence.
    last_seq: u64,
    /// The endpoint's last outbox seq stored there (`None`: none).
    ours: Option<u64>,
}

/// Publishes an endpoint's outbox to topics on JetStream (see the module documentation).
pub struct NatsPublisher {
    log: Arc<NatsLog>,
    writer: String,
    topic_prefix: String,
    topics: BTreeMap<String, Topic>,
    known: BTreeMap<(String, u32), Known>,
    clock: Arc<dyn Clock>,
}

impl NatsPublisher {
    /// The outbox of endpoint `writer` (its name; no `.` needed or wanted): an entry for
    /// outbox topic `t` goes to the topic `<topic_prefix>t` on `log`, which must exist.
    pub fn new(log: Arc<NatsLog>, writer: &str, topic_prefix: &str) -> Self {
        Self {
            log,
            writer: writer.to_string(),
            topic_prefix: topic_prefix.to_string(),
            topics: BTreeMap::new(),
            known: BTreeMap::new(),
            clock: Arc::new(SystemClock),
        }
    }

    /// The NATS topic an outbox topic goes to.
    pub fn topic_name(&self, outbox_topic: &str) -> String {
        format!("{}{outbox_topic}", self.topic_prefix)
    }

    fn topic(&mut self, name: &str) -> Result<Topic, NatsError> {
        if let Some(topic) = self.topics.get(name) {
            return Ok(topic.clone());
        }
        let topic = self.log.open_topic(name)?;
        self.topics.insert(name.to_string(), topic.clone());
        Ok(topic)
    }

    /// The origin header of outbox entry `seq`.
    fn origin(&self, seq: u64) -> String {
        format!("{}.{seq}", self.writer)
    }

    /// The outbox seq in `record`'s origin if this endpoint wrote it.
    fn our_seq(&self, record: &StoredRecord) -> Option<Result<u64, ()>> {
        let origin = record.origin.as_deref()?;
        let rest = origin
            .strip_prefix(self.writer.as_str())?
            .strip_prefix('.')?;
        Some(rest.parse().map_err(|_| ()))
    }

    /// The partition's last sequence and the endpoint's last outbox seq stored there.
    fn resume_point(&self, topic: &Topic, partition: u32) -> Result<Known, NatsError> {
        let last_seq = self.log.partition_state(topic, partition)?.last_seq;
        let ours = last_matching(&self.log, topic, partition, &|r| self.our_seq(r).is_some())?;
        let ours = match ours {
            None => None,
            Some(record) => match self.our_seq(&record) {
                Some(Ok(seq)) => Some(seq),
                _ => {
                    return Err(NatsError::BadRecord {
                        stream: topic.stream(partition)?,
                        sequence: record.sequence,
                        source: crate::record::RecordLayoutError::BadMsgId(record.origin),
                    })
                }
            },
        };
        // The tail read after the state: a record appended in between only makes the
        // conditional publish fail and the round repeat.
        Ok(Known { last_seq, ours })
    }

    /// Publishes `entries` (in outbox order) to one partition, after what it holds.
    fn publish_partition(
        &mut self,
        topic: &Topic,
        partition: u32,
        entries: &[&OutboxEntry],
    ) -> Result<(), NatsError> {
        let key = (topic.name().to_string(), partition);
        // Entries up to this seq are known to be stored (acknowledged, even as duplicates).
        let mut acked_upto: Option<u64> = None;
        let mut last_error = None;
        for _round in 0..PUBLISH_ROUNDS_MAX {
            let known = match self.known.remove(&key) {
                Some(known) => known,
                None => self.resume_point(topic, partition)?,
            };
            let stored_upto = known.ours.max(acked_upto);
            let rest: Vec<&OutboxEntry> = entries
                .iter()
                .filter(|e| stored_upto.is_none_or(|upto| e.seq > upto))
                .copied()
                .collect();
            let Some(last) = rest.last() else {
                self.known.insert(key, known);
                return Ok(());
            };
            let now_ms = self.clock.now_ms();
            let out: Vec<OutRecord> = rest.iter().map(|e| self.record(e, now_ms)).collect();
            match self
                .log
                .publish(topic, partition, &out, Some(known.last_seq))
            {
                Ok(acks) => {
                    if let Some(ack) = acks.last().filter(|ack| !ack.duplicate) {
                        let ours = Some(last.seq);
                        self.known.insert(
                            key,
                            Known {
                                last_seq: ack.sequence,
                                ours,
                            },
                        );
                    }
                    return Ok(());
                }
                Err(failure) => {
                    if let Some(entry) =
                        failure.acked.len().checked_sub(1).and_then(|i| rest.get(i))
                    {
                        acked_upto = acked_upto.max(Some(entry.seq));
                    }
                    if !failure.error.is_transient() {
                        return Err(failure.error);
                    }
                    tracing::warn!(topic = topic.name(), partition, error = %failure.error, "outbox publish interrupted; reading the tail again");
                    last_error = Some(failure.error);
                }
            }
        }
        Err(match last_error {
            Some(error) => error,
            None => NatsError::Timeout {
                operation: format!("publishing the outbox to {}/{partition}", topic.name()),
                timeout_ms: 0,
            },
        })
    }

    fn record(&self, entry: &OutboxEntry, now_ms: i64) -> OutRecord {
        OutRecord {
            msg_id: entry.id.to_hex(),
            epoch: None,
            origin: Some(self.origin(entry.seq)),
            key: Some(entry.key.clone()),
            timestamp_ms: now_ms,
            value: encode_envelope(entry.id, &entry.payload),
        }
    }
}

impl Publisher for NatsPublisher {
    fn publish(&mut self, entries: &[OutboxEntry]) -> Result<(), PublishError> {
        // Per (topic, partition), in outbox order within each.
        let mut groups: BTreeMap<(String, u32), Vec<&OutboxEntry>> = BTreeMap::new();
        for entry in entries {
            let name = self.topic_name(&entry.topic);
            let topic = self.topic(&name).map_err(|e| failed(&name, e))?;
            let partition = topic.partition_for_key(&entry.key);
            groups.entry((name, partition)).or_default().push(entry);
        }
        for ((name, partition), group) in groups {
            let topic = self.topic(&name).map_err(|e| failed(&name, e))?;
            if let Err(error) = self.publish_partition(&topic, partition, &group) {
                // Whatever was known may be stale now: read the tail next time.
                self.known.remove(&(name.clone(), partition));
                return Err(failed(&name, error));
            }
        }
        Ok(())
    }
}

fn failed(topic: &str, error: NatsError) -> PublishError {
    PublishError {
        topic: topic.to_string(),
        transient: error.is_transient(),
        reason: error.to_string(),
    }
}
