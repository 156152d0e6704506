//! The one error type of this crate: every failure the network, the server or the input
//! can cause, with what was being done and to which stream.

use crate::naming::InvalidTopicName;
use crate::record::RecordLayoutError;
use crate::topic::TopicMeta;

/// The underlying client error.
pub type Source = Box<dyn std::error::Error + Send + Sync>;

/// Why a NATS operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NatsError {
    /// The `nats://…` address list is malformed.
    #[error("bad NATS address {address:?}: {reason}")]
    BadAddress {
        /// The address as given.
        address: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The runtime that drives the client could not start.
    #[error("starting the NATS client runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// No server of the list could be reached in time.
    #[error("connecting to {servers}: {source}")]
    Connect {
        /// The servers tried.
        servers: String,
        /// Why.
        source: Source,
    },
    /// The server answered that JetStream is not enabled, or did not answer its API.
    #[error("JetStream API request {request} failed: {source}")]
    Api {
        /// What was asked (`stream info exactly_t_p0`, …).
        request: String,
        /// Why.
        source: Source,
    },
    /// A topic name is not allowed.
    #[error(transparent)]
    InvalidTopic(#[from] InvalidTopicName),
    /// Topic options are out of range.
    #[error("invalid options for topic {topic:?}: {reason}")]
    InvalidOptions {
        /// The topic.
        topic: String,
        /// Why.
        reason: String,
    },
    /// No topic of that name exists (no metadata).
    #[error("unknown topic {topic:?} (no metadata stream {stream})")]
    TopicNotFound {
        /// The topic.
        topic: String,
        /// The metadata stream looked for.
        stream: String,
    },
    /// The topic exists with other partitions or options than a creator asked for.
    #[error(
        "topic {topic:?} already exists with {} partitions and {:?}; asked for {} partitions and {:?}",
        existing.partitions, existing.options, requested.partitions, requested.options
    )]
    TopicConflict {
        /// The topic.
        topic: String,
        /// What it is.
        existing: Box<TopicMeta>,
        /// What was asked for.
        requested: Box<TopicMeta>,
    },
    /// A stream exists with a configuration other than the topic's metadata implies.
    #[error("stream {stream} exists with another {setting} than the topic's metadata implies")]
    StreamConflict {
        /// The stream.
        stream: String,
        /// The first setting found different (`replicas`, `max_age`, …).
        setting: &'static str,
    },
    /// The metadata message does not decode.
    #[error("metadata of topic {topic:?} is damaged: {reason}")]
    MetadataDamaged {
        /// The topic.
        topic: String,
        /// Why.
        reason: String,
    },
    /// A partition number past the topic's partition count.
    #[error("topic {topic:?} has {partitions} partitions; {partition} does not exist")]
    NoSuchPartition {
        /// The topic.
        topic: String,
        /// Asked for.
        partition: u32,
        /// The topic's count.
        partitions: u32,
    },
    /// A conditional publish found another last sequence than expected: someone else wrote
    /// to the stream (a zombie or a second producer), or an earlier publish of this
    /// pipeline failed.
    #[error(
        "publish to {stream}: expected last sequence {expected}, the stream disagrees: {source}"
    )]
    WrongLastSequence {
        /// The stream.
        stream: String,
        /// The expectation sent.
        expected: u64,
        /// The server's answer (it names the actual last sequence).
        source: Source,
    },
    /// A publish was not acknowledged (timed out, connection lost, refused). Retrying with
    /// the same message ids is safe inside the duplicate window; after it, resume from
    /// the stream's tail instead.
    #[error("publish to {stream} not acknowledged: {source}")]
    Publish {
        /// The stream.
        stream: String,
        /// Why.
        source: Source,
    },
    /// The partition's tail was written under a higher epoch: this writer has been
    /// replaced (a zombie) and must stop.
    #[error("{stream}: fenced: the tail (sequence {tail_sequence}) has epoch {tail_epoch}, this writer's is {epoch}")]
    Fenced {
        /// The stream.
        stream: String,
        /// This writer's epoch.
        epoch: u64,
        /// The tail's epoch.
        tail_epoch: u64,
        /// The tail's sequence.
        tail_sequence: u64,
    },
    /// Retention (`max_age`, limits, a purge) deleted records a reader had not read yet.
    #[error(
        "{stream}: records from sequence {requested} are gone (the first kept is {first_kept}); \
         retention deleted unread data"
    )]
    RetentionDeleted {
        /// The stream.
        stream: String,
        /// The sequence the reader needed next.
        requested: u64,
        /// The stream's first sequence now.
        first_kept: u64,
    },
    /// Reading a stream failed.
    #[error("reading {stream} at sequence {sequence}: {source}")]
    Read {
        /// The stream.
        stream: String,
        /// The next sequence wanted.
        sequence: u64,
        /// Why.
        source: Source,
    },
    /// A stored message does not follow the record layout.
    #[error("{stream} sequence {sequence} is not a record: {source}")]
    BadRecord {
        /// The stream.
        stream: String,
        /// Its sequence.
        sequence: u64,
        /// Why.
        source: RecordLayoutError,
    },
    /// An operation did not finish in time.
    #[error("{operation} timed out after {timeout_ms} ms")]
    Timeout {
        /// What timed out.
        operation: String,
        /// The bound.
        timeout_ms: u64,
    },
}

/// An [`NatsError::Api`] for `request`.
pub(crate) fn api(
    request: String,
    source: impl std::error::Error + Send + Sync + 'static,
) -> NatsError {
    NatsError::Api {
        request,
        source: Box::new(source),
    }
}

impl NatsError {
    /// Whether a later attempt may succeed: the server or the network failed or was slow,
    /// or another writer got in first — not a bad argument, a missing topic, damaged data
    /// or a fenced writer.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Connect { .. }
                | Self::Api { .. }
                | Self::WrongLastSequence { .. }
                | Self::Publish { .. }
                | Self::Read { .. }
                | Self::Timeout { .. }
        )
    }
}
