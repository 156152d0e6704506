//! [`NatsEndpointInput`] / [`NatsSource`]: a topic on JetStream as the input of an
//! endpoint of `exactly-endpoint`.
//!
//! Each partition is read through a **durable pull consumer with explicit
//! acknowledgments**, named after the endpoint. A delivery is acknowledged only after the
//! store transaction that processed it committed ([`Source::committed`]): JetStream never
//! believes a message handled that the store has not committed, so a consumer-side view of
//! progress (and a stream whose retention follows acknowledgments) never runs ahead of the
//! store.
//!
//! The store's committed positions stay the authority on where reading resumes. Each
//! session (a process start, a new session after a lost connection) deletes the
//! endpoint's consumer and creates it again at the committed position + 1: deliveries the
//! previous session had fetched but not acknowledged come again at once instead of after
//! `ack_wait`, and a delivery acknowledged after its commit but before a crash is not
//! re-read. Deleting a consumer deletes no message: the topics' streams use limits
//! retention (`crate::topic`). A redelivery inside a session (a batch slower than
//! `ack_wait`) is recognised by its stream sequence and skipped: the first delivery is
//! still on its way to the store. A jump in the sequences (records deleted unread) is
//! [`NatsError::RetentionDeleted`], never skipped.
//!
//! A record's offset is its stream sequence − 1 (as for the engine's `NatsInput`), so a
//! position's `next_offset` is the stream sequence of the last record delivered.

use crate::blocking::{NatsLog, Topic};
use crate::error::{api, NatsError};
use crate::read::{get_stream, partition_state};
use crate::record::decode;
use async_nats::jetstream::consumer::{pull, AckPolicy, Consumer, DeliverPolicy};
use async_nats::jetstream::stream::ConsumerErrorKind;
use async_nats::jetstream::ErrorCode;
use async_nats::Subject;
use exactly_endpoint::message::decode_envelope;
use exactly_endpoint::{Delivery, LostTail, Message, MessageId, Position};
use exactly_endpoint::{Source, SourceError, SourceOpener};
use futures_util::StreamExt;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// How long the server waits for an acknowledgment before delivering again.
const ACK_WAIT: Duration = Duration::from_secs(30);
/// Unacknowledged deliveries per partition before the server stops delivering; above any
/// poll (the serve loop acknowledges each poll once it committed).
const ACK_PENDING_MAX: i64 = 20_000;
/// The shortest wait of a pull request the server is asked for.
const PULL_EXPIRES_MIN: Duration = Duration::from_millis(10);

/// Opens a topic on JetStream as an endpoint's input, once per session.
pub struct NatsEndpointInput {
    log: Arc<NatsLog>,
    topic: String,
    consumer: String,
}

impl NatsEndpointInput {
    /// The input `topic` on `log`, read through consumers named `consumer` (the
    /// endpoint's name: letters, digits, `-` and `_`, at most 64 characters).
    pub fn new(log: Arc<NatsLog>, topic: &str, consumer: &str) -> Result<Self, NatsError> {
        let plain = consumer
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_');
        if !plain || consumer.is_empty() || consumer.len() > 64 {
            return Err(NatsError::InvalidOptions {
                topic: topic.to_string(),
                reason: format!(
                    "consumer name {consumer:?}: letters, digits, - and _, 1 to 64 characters"
                ),
            });
        }
        Ok(Self {
            log,
            topic: topic.to_string(),
            consumer: consumer.to_string(),
        })
    }
}

impl SourceOpener for NatsEndpointInput {
    type Source = NatsSource;

    fn open(&mut self, committed: &[Position]) -> Result<NatsSource, SourceError> {
        NatsSource::open(
            Arc::clone(&self.log),
            &self.topic,
            &self.consumer,
            committed,
        )
    }
}

/// One delivery not acknowledged yet.
struct Unacked {
    partition: u32,
    sequence: u64,
    reply: Subject,
}

/// An endpoint's input on JetStream for one session (see the module documentation).
pub struct NatsSource {
    log: Arc<NatsLog>,
    topic: Topic,
    consumers: Vec<Consumer<pull::Config>>,
    /// Per partition, the stream sequence of the next delivery.
    next: Vec<u64>,
    unacked: Vec<Unacked>,
    turn: usize,
    lost_tails: Vec<LostTail>,
}

/// A [`SourceError`] for `topic` from a NATS failure (transient as the failure is).
fn source_error(topic: &str, error: NatsError) -> SourceError {
    SourceError {
        topic: topic.to_string(),
        transient: error.is_transient(),
        reason: error.to_string(),
    }
}

impl NatsSource {
    /// Opens `topic` at the positions in `committed` (a partition without one starts at
    /// its first kept record), re-creating the endpoint's consumer of each partition there.
    pub fn open(
        log: Arc<NatsLog>,
        topic: &str,
        consumer: &str,
        committed: &[Position],
    ) -> Result<Self, SourceError> {
        let fail = |error| source_error(topic, error);
        let open = log.open_topic(topic).map_err(fail)?;
        let mut source = NatsSource {
            log: Arc::clone(&log),
            topic: open.clone(),
            consumers: Vec::new(),
            next: Vec::new(),
            unacked: Vec::new(),
            turn: 0,
            lost_tails: Vec::new(),
        };
        for partition in 0..open.partitions() {
            let position = committed
                .iter()
                .find(|p| p.topic == topic && p.partition == partition)
                .map(|p| p.next_offset);
            let (start, created) = log
                .runtime()
                .block_on(source.start_partition(partition, consumer, position))
                .map_err(fail)?;
            source.next.push(start);
            source.consumers.push(created);
        }
        Ok(source)
    }

    /// Where `partition` resumes, and its consumer created there.
    async fn start_partition(
        &mut self,
        partition: u32,
        consumer: &str,
        position: Option<u64>,
    ) -> Result<(u64, Consumer<pull::Config>), NatsError> {
        let name = self.topic.stream(partition)?;
        let mut stream = get_stream(self.log.js(), &name).await?;
        let state = partition_state(&mut stream).await?;
        let start = match position {
            None => state.first_seq,
            // Past the last stored sequence: the server lost records the endpoint had
            // already processed (2.9 acknowledges from the page cache). Resume at the end,
            // as the embedded log's source does; republished ids are dropped by the inbox.
            Some(next_offset) if next_offset > state.last_seq => {
                self.lost_tails.push(LostTail {
                    topic: self.topic.name().to_string(),
                    partition,
                    end_offset: state.last_seq,
                    committed_offset: next_offset,
                });
                state.last_seq + 1
            }
            Some(next_offset) if next_offset + 1 < state.first_seq => {
                return Err(NatsError::RetentionDeleted {
                    stream: name,
                    requested: next_offset + 1,
                    first_kept: state.first_seq,
                })
            }
            Some(next_offset) => next_offset + 1,
        };
        match stream.delete_consumer(consumer).await {
            Ok(_) => {}
            Err(error) if is_consumer_not_found(&error) => {}
            Err(error) => {
                return Err(api(
                    format!("deleting consumer {consumer} of {name}"),
                    error,
                ))
            }
        }
        let config = pull::Config {
            durable_name: Some(consumer.to_string()),
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: start,
            },
            ack_policy: AckPolicy::Explicit,
            ack_wait: ACK_WAIT,
            max_ack_pending: ACK_PENDING_MAX,
            ..pull::Config::default()
        };
        let created = stream
            .create_consumer(config)
            .await
            .map_err(|e| api(format!("creating consumer {consumer} of {name}"), e))?;
        Ok((start, created))
    }

    fn fail(&self, error: NatsError) -> SourceError {
        source_error(self.topic.name(), error)
    }

    /// Fetches up to `max` messages of partition `index`, waiting up to `wait` for them.
    /// A pull request the server never answers (it died with the request) ends after
    /// `wait` plus the request timeout: [`NatsError::Timeout`]. Any error ends the
    /// session (the serve loop drops this source), so deliveries accepted before it are
    /// read again by the next session from the committed positions, never skipped.
    async fn fetch(
        &mut self,
        index: usize,
        max: usize,
        wait: Option<Duration>,
    ) -> Result<Vec<Delivery>, NatsError> {
        let timeout_ms = self.log.options().request_timeout_ms;
        let waited = match wait {
            Some(wait) => wait,
            None => Duration::ZERO, // A no-wait fetch: the request timeout alone.
        };
        let bound = waited + Duration::from_millis(timeout_ms);
        match tokio::time::timeout(bound, self.fetch_unbounded(index, max, wait)).await {
            Ok(fetched) => fetched,
            Err(_) => Err(NatsError::Timeout {
                operation: format!("fetching from {}", self.topic.stream(index as u32)?),
                timeout_ms: bound.as_millis() as u64,
            }),
        }
    }

    async fn fetch_unbounded(
        &mut self,
        index: usize,
        max: usize,
        wait: Option<Duration>,
    ) -> Result<Vec<Delivery>, NatsError> {
        let name = self.topic.stream(index as u32)?;
        let (Some(consumer), Some(&next_seq)) = (self.consumers.get(index), self.next.get(index))
        else {
            return Ok(Vec::new());
        };
        let read = |source| NatsError::Read {
            stream: name.clone(),
            sequence: next_seq,
            source,
        };
        let mut batch = match wait {
            Some(wait) => consumer
                .batch()
                .max_messages(max)
                .expires(wait.max(PULL_EXPIRES_MIN))
                .messages()
                .await
                .map_err(|e| read(Box::new(e)))?,
            None => consumer
                .fetch()
                .max_messages(max)
                .messages()
                .await
                .map_err(|e| read(Box::new(e)))?,
        };
        let mut out = Vec::new();
        while let Some(message) = batch.next().await {
            let message = message.map_err(read)?;
            let sequence = message.info().map_err(read)?.stream_sequence;
            if let Some(delivery) = self.accept(index, sequence, &message, &name)? {
                out.push(delivery);
            }
        }
        Ok(out)
    }

    /// The delivery of `message` (stream sequence `sequence`), `None` for a redelivery.
    fn accept(
        &mut self,
        index: usize,
        sequence: u64,
        message: &async_nats::jetstream::Message,
        stream: &str,
    ) -> Result<Option<Delivery>, NatsError> {
        let Some(next) = self.next.get_mut(index) else {
            return Ok(None);
        };
        if sequence < *next {
            return Ok(None); // Delivered again after `ack_wait`; the first is in flight.
        }
        if sequence > *next {
            return Err(NatsError::RetentionDeleted {
                stream: stream.to_string(),
                requested: *next,
                first_kept: sequence,
            });
        }
        *next = sequence + 1;
        let record =
            decode(sequence, message.headers.as_ref(), &message.payload).map_err(|source| {
                NatsError::BadRecord {
                    stream: stream.to_string(),
                    sequence,
                    source,
                }
            })?;
        if let Some(reply) = message.reply.clone() {
            self.unacked.push(Unacked {
                partition: index as u32,
                sequence,
                reply,
            });
        }
        Ok(Some(delivery(
            self.topic.name(),
            index as u32,
            sequence,
            record,
        )))
    }
}

/// The delivery of a record read at `sequence` (offset `sequence - 1`).
fn delivery(topic: &str, partition: u32, sequence: u64, record: crate::StoredRecord) -> Delivery {
    let position = Position {
        topic: topic.to_string(),
        partition,
        next_offset: sequence,
    };
    let key = match record.key {
        Some(key) => key,
        None => Vec::new(), // A keyless record routes under the empty key, as on the log.
    };
    match decode_envelope(&record.value) {
        Ok((id, payload)) => Delivery {
            message: Message {
                id,
                key,
                payload: payload.to_vec(),
                timestamp_ms: record.timestamp_ms,
            },
            malformed: None,
            position,
        },
        Err(reason) => Delivery {
            message: Message {
                id: MessageId::from_position(topic, partition, sequence - 1),
                key,
                payload: record.value,
                timestamp_ms: record.timestamp_ms,
            },
            malformed: Some(reason),
            position,
        },
    }
}

fn is_consumer_not_found(error: &async_nats::jetstream::stream::ConsumerError) -> bool {
    matches!(error.kind(), ConsumerErrorKind::JetStream(e) if e.error_code() == ErrorCode::CONSUMER_NOT_FOUND)
}

impl Source for NatsSource {
    fn poll(&mut self, max: usize, timeout: Duration) -> Result<Vec<Delivery>, SourceError> {
        let count = self.consumers.len();
        let log = Arc::clone(&self.log);
        let mut out = Vec::new();
        // Every partition once without waiting, then one wait on the next in turn.
        for round in 0..=count {
            if out.len() >= max || count == 0 {
                break;
            }
            let index = self.turn % count;
            self.turn = self.turn.wrapping_add(1);
            let wait = (round == count && out.is_empty()).then_some(timeout);
            if round == count && wait.is_none() {
                break;
            }
            let fetched = log
                .runtime()
                .block_on(self.fetch(index, max - out.len(), wait))
                .map_err(|e| self.fail(e))?;
            out.extend(fetched);
        }
        Ok(out)
    }

    fn caught_up(&self) -> Result<bool, SourceError> {
        for (partition, next) in (0u32..).zip(&self.next) {
            let state = self
                .log
                .partition_state(&self.topic, partition)
                .map_err(|e| self.fail(e))?;
            if *next <= state.last_seq {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn committed(&mut self, deliveries: &[Delivery]) -> Result<(), SourceError> {
        let mut upto: BTreeMap<u32, u64> = BTreeMap::new();
        for d in deliveries
            .iter()
            .filter(|d| d.position.topic == self.topic.name())
        {
            let last = upto.entry(d.position.partition).or_default();
            *last = (*last).max(d.position.next_offset);
        }
        let (done, kept): (Vec<Unacked>, Vec<Unacked>) = std::mem::take(&mut self.unacked)
            .into_iter()
            .partition(|u| {
                upto.get(&u.partition)
                    .is_some_and(|last| u.sequence <= *last)
            });
        self.unacked = kept;
        let client = self.log.client().clone();
        let sent = self.log.runtime().block_on(async move {
            for unacked in done {
                client.publish(unacked.reply, "+ACK".into()).await?;
            }
            client.flush().await.map_err(Into::into)
        });
        sent.map_err(|e: Box<dyn std::error::Error + Send + Sync>| {
            self.fail(NatsError::Api {
                request: format!("acknowledging deliveries of {}", self.topic.name()),
                source: e,
            })
        })
    }

    fn lost_tails(&self) -> &[LostTail] {
        &self.lost_tails
    }
}
