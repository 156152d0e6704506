//! Reading one partition (async): from a sequence to the end as of the call, in bounded
//! batches, through an ordered consumer (an ephemeral, unacknowledged consumer the client
//! re-creates at the right sequence if it misses a message; no server-side ack state);
//! and the tail (the last record) by one stream-message lookup.
//!
//! The reader never skips silently: a position below the stream's first kept sequence, or
//! a jump in the stream sequences it receives, means retention (or a purge) deleted
//! records it had not read — [`NatsError::RetentionDeleted`].

use crate::error::{api, NatsError};
use crate::record::{decode, StoredRecord};
use async_nats::jetstream::consumer::pull::{Ordered, OrderedConfig};
use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::stream::{LastRawMessageErrorKind, Stream};
use async_nats::jetstream::Context;
use futures_util::StreamExt;
use std::time::Duration;

/// The extent of a partition's stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartitionState {
    /// Sequence of the first record still kept (`last + 1` when the stream is empty).
    pub first_seq: u64,
    /// Sequence of the last record ever stored (0 if none).
    pub last_seq: u64,
    /// Records kept.
    pub messages: u64,
}

/// The stream named `stream` (one API request).
pub async fn get_stream(js: &Context, stream: &str) -> Result<Stream, NatsError> {
    js.get_stream(stream)
        .await
        .map_err(|e| api(format!("stream info {stream}"), e))
}

/// The partition's first and last sequence now.
pub async fn partition_state(stream: &mut Stream) -> Result<PartitionState, NatsError> {
    let name = stream.cached_info().config.name.clone();
    let info = stream
        .info()
        .await
        .map_err(|e| api(format!("stream info {name}"), e))?;
    let state = &info.state;
    // A fresh stream reports first 0, last 0: normalise to "first kept = last + 1".
    let first_seq = if state.messages == 0 {
        state.last_sequence + 1
    } else {
        state.first_sequence
    };
    Ok(PartitionState {
        first_seq,
        last_seq: state.last_sequence,
        messages: state.messages,
    })
}

/// The name of the server leading the stream's replicas now (`server_name` in its
/// configuration), `None` when the server is not clustered or no leader is elected.
pub async fn stream_leader(stream: &mut Stream) -> Result<Option<String>, NatsError> {
    let name = stream.cached_info().config.name.clone();
    let info = stream
        .info()
        .await
        .map_err(|e| api(format!("stream info {name}"), e))?;
    Ok(info
        .cluster
        .as_ref()
        .and_then(|cluster| cluster.leader.clone()))
}

/// The last record of the partition, `None` if it holds none.
pub async fn tail(stream: &Stream, subject: &str) -> Result<Option<StoredRecord>, NatsError> {
    let name = &stream.cached_info().config.name;
    let message = match stream.get_last_raw_message_by_subject(subject).await {
        Ok(message) => message,
        Err(error) if error.kind() == LastRawMessageErrorKind::NoMessageFound => return Ok(None),
        Err(error) => return Err(api(format!("last message of {name}"), error)),
    };
    decode(message.sequence, Some(&message.headers), &message.payload)
        .map(Some)
        .map_err(|source| NatsError::BadRecord {
            stream: name.clone(),
            sequence: message.sequence,
            source,
        })
}

/// The pause between attempts to create a reader's consumer.
const CONSUMER_RETRY_PAUSE: Duration = Duration::from_millis(250);

/// Reads one partition from a sequence up to its last sequence as of [`PartitionReader::open`].
pub struct PartitionReader {
    stream: Stream,
    name: String,
    next_seq: u64,
    end_seq: u64,
    idle_timeout_ms: u64,
    messages: Option<Ordered>,
}

impl PartitionReader {
    /// A reader of `stream` from `from_seq` (≥ 1) to the stream's last sequence now.
    /// Fails with [`NatsError::RetentionDeleted`] if records from `from_seq` on were
    /// already deleted.
    pub async fn open(
        mut stream: Stream,
        from_seq: u64,
        idle_timeout_ms: u64,
    ) -> Result<Self, NatsError> {
        let name = stream.cached_info().config.name.clone();
        let state = partition_state(&mut stream).await?;
        let next_seq = from_seq.max(1);
        if next_seq < state.first_seq && next_seq <= state.last_seq + 1 {
            return Err(NatsError::RetentionDeleted {
                stream: name,
                requested: next_seq,
                first_kept: state.first_seq,
            });
        }
        Ok(PartitionReader {
            stream,
            name,
            next_seq,
            end_seq: state.last_seq,
            idle_timeout_ms,
            messages: None,
        })
    }

    /// The sequence the next record read will have.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The last sequence this reader reads (the stream's last when it was opened).
    pub fn end_seq(&self) -> u64 {
        self.end_seq
    }

    /// Up to `max_records` next records; empty once the end is reached.
    pub async fn next_batch(&mut self, max_records: usize) -> Result<Vec<StoredRecord>, NatsError> {
        let mut batch = Vec::new();
        while batch.len() < max_records && self.next_seq <= self.end_seq {
            let message = match self.next_message().await {
                Ok(message) => message,
                // The records read so far are returned, so that a caller retrying after
                // the error starts from the first record it did not get (`next_seq` has
                // moved past the ones in `batch`); the error comes back on that call.
                Err(_) if !batch.is_empty() => return Ok(batch),
                Err(error) => return Err(error),
            };
            let sequence = message
                .info()
                .map_err(|source| self.read_error(source))?
                .stream_sequence;
            if sequence < self.next_seq {
                continue; // Already read (a redelivery after a consumer re-creation).
            }
            if sequence > self.next_seq {
                return Err(NatsError::RetentionDeleted {
                    stream: self.name.clone(),
                    requested: self.next_seq,
                    first_kept: sequence,
                });
            }
            let record =
                decode(sequence, message.headers.as_ref(), &message.payload).map_err(|source| {
                    NatsError::BadRecord {
                        stream: self.name.clone(),
                        sequence,
                        source,
                    }
                })?;
            batch.push(record);
            self.next_seq = sequence + 1;
        }
        if self.next_seq > self.end_seq {
            self.messages = None; // Done: let the server forget the consumer.
        }
        Ok(batch)
    }

    async fn next_message(&mut self) -> Result<async_nats::jetstream::Message, NatsError> {
        let mut messages = match self.messages.take() {
            Some(messages) => messages,
            None => self.start_consumer().await?,
        };
        let idle_timeout = Duration::from_millis(self.idle_timeout_ms);
        let next = tokio::time::timeout(idle_timeout, messages.next()).await;
        self.messages = Some(messages);
        match next {
            Ok(Some(Ok(message))) => Ok(message),
            Ok(Some(Err(source))) => Err(self.read_error(source)),
            Ok(None) => Err(self.read_error("the consumer's message stream ended")),
            Err(_) => Err(self.explain_stall().await),
        }
    }

    /// Starts the ordered consumer, retrying for up to the idle timeout: while a cluster
    /// re-elects leaders (a node restarted) creating a consumer times out for a while,
    /// which a reader rides out as it rides out a slow message.
    async fn start_consumer(&self) -> Result<Ordered, NatsError> {
        let started = tokio::time::Instant::now();
        let patience = Duration::from_millis(self.idle_timeout_ms);
        loop {
            match self.try_start_consumer().await {
                Ok(messages) => return Ok(messages),
                Err(error) if started.elapsed() >= patience => return Err(error),
                Err(_) => tokio::time::sleep(CONSUMER_RETRY_PAUSE).await,
            }
        }
    }

    async fn try_start_consumer(&self) -> Result<Ordered, NatsError> {
        let config = OrderedConfig {
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: self.next_seq,
            },
            ..OrderedConfig::default()
        };
        let consumer = self
            .stream
            .create_consumer(config)
            .await
            .map_err(|source| self.read_error(source))?;
        consumer
            .messages()
            .await
            .map_err(|source| self.read_error(source))
    }

    /// No message within the idle timeout although the end is not reached: either the
    /// records were deleted meanwhile, or the server is unreachable or slow.
    async fn explain_stall(&mut self) -> NatsError {
        match partition_state(&mut self.stream).await {
            Ok(state) if state.first_seq > self.next_seq => NatsError::RetentionDeleted {
                stream: self.name.clone(),
                requested: self.next_seq,
                first_kept: state.first_seq,
            },
            Ok(_) | Err(_) => NatsError::Timeout {
                operation: format!("reading {} at sequence {}", self.name, self.next_seq),
                timeout_ms: self.idle_timeout_ms,
            },
        }
    }

    fn read_error(&self, source: impl Into<crate::error::Source>) -> NatsError {
        NatsError::Read {
            stream: self.name.clone(),
            sequence: self.next_seq,
            source: source.into(),
        }
    }
}
