//! The blocking facade: one owned tokio runtime drives the async core, so the synchronous
//! rest of exactly (threads, not tasks) calls plain methods.

use crate::catalog::{create_topic, delete_topic, list_topics, open_topic};
use crate::connect::{connect, ClientOptions};
use crate::error::NatsError;
use crate::naming::{partition_stream, partition_subject};
use crate::publish::{publish_batch, PublishAck, PublishFailure, Target};
use crate::read::{
    get_stream, partition_state, stream_leader, tail, PartitionReader, PartitionState,
};
use crate::record::{OutRecord, StoredRecord};
use crate::time_lookup::first_seq_at_or_after;
use crate::topic::{TopicMeta, TopicOptions};
use async_nats::connection::State;
use async_nats::jetstream::Context;
use async_nats::Client;
use tokio::runtime::Runtime;

/// A connection to a NATS JetStream server or cluster, with blocking methods.
pub struct NatsLog {
    // Field order matters on drop: the client's tasks live on the runtime.
    client: Client,
    js: Context,
    options: ClientOptions,
    runtime: Runtime,
}

/// An open topic: its metadata, and the names of its streams.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topic {
    meta: TopicMeta,
}

impl Topic {
    /// The topic's name.
    pub fn name(&self) -> &str {
        &self.meta.topic
    }

    /// Its partition count.
    pub fn partitions(&self) -> u32 {
        self.meta.partitions
    }

    /// Its metadata (partition count and options).
    pub fn meta(&self) -> &TopicMeta {
        &self.meta
    }

    /// The partition a key goes to: the embedded log's rule (`xxh3(key) mod partitions`),
    /// so a job partitions the same way on both logs.
    pub fn partition_for_key(&self, key: &[u8]) -> u32 {
        exactly_log::partition_for_key(key, self.meta.partitions)
    }

    /// The stream of `partition`, checked against the partition count.
    pub fn stream(&self, partition: u32) -> Result<String, NatsError> {
        self.check(partition)?;
        Ok(partition_stream(&self.meta.topic, partition))
    }

    fn check(&self, partition: u32) -> Result<(), NatsError> {
        if partition >= self.meta.partitions {
            return Err(NatsError::NoSuchPartition {
                topic: self.meta.topic.clone(),
                partition,
                partitions: self.meta.partitions,
            });
        }
        Ok(())
    }
}

/// Reads one partition from a sequence to its end as of [`NatsLog::reader`].
pub struct Reader<'a> {
    log: &'a NatsLog,
    inner: PartitionReader,
}

impl Reader<'_> {
    /// Up to `max_records` next records; empty at the end.
    pub fn next_batch(&mut self, max_records: usize) -> Result<Vec<StoredRecord>, NatsError> {
        self.log
            .runtime
            .block_on(self.inner.next_batch(max_records))
    }

    /// The sequence of the next record.
    pub fn next_seq(&self) -> u64 {
        self.inner.next_seq()
    }

    /// The last sequence this reader reads.
    pub fn end_seq(&self) -> u64 {
        self.inner.end_seq()
    }
}

impl NatsLog {
    /// Connects with default options (2 s pings, 5 s timeouts) to
    /// `nats://host:port[,host:port…]`.
    pub fn connect(address: &str) -> Result<Self, NatsError> {
        Self::connect_with(address, ClientOptions::default())
    }

    /// Connects with `options`.
    pub fn connect_with(address: &str, options: ClientOptions) -> Result<Self, NatsError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("exactly-nats")
            .enable_all()
            .build()
            .map_err(NatsError::Runtime)?;
        let (client, js) = runtime.block_on(connect(address, &options))?;
        Ok(NatsLog {
            client,
            js,
            options,
            runtime,
        })
    }

    /// Whether the client is connected now. A server that stops answering is noticed
    /// after about two missed pings ([`ClientOptions::ping_interval_ms`]).
    pub fn is_connected(&self) -> bool {
        self.client.connection_state() == State::Connected
    }

    /// The runtime that drives the client (for the async parts of this crate).
    pub(crate) fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The JetStream context.
    pub(crate) fn js(&self) -> &Context {
        &self.js
    }

    /// The client's options.
    pub(crate) fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// The core client.
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// The version the connected server announced (`2.9.10`, `2.15.1`, …).
    pub fn server_version(&self) -> String {
        self.client.server_info().version
    }

    /// Creates a topic, or opens it if it exists with exactly these partitions and options
    /// ([`NatsError::TopicConflict`] if not). Safe against concurrent creators.
    pub fn create_topic(
        &self,
        topic: &str,
        partitions: u32,
        options: TopicOptions,
    ) -> Result<Topic, NatsError> {
        let meta = self
            .runtime
            .block_on(create_topic(&self.js, topic, partitions, options))?;
        Ok(Topic { meta })
    }

    /// Opens an existing topic by its metadata (any process can: it need not have created
    /// the topic).
    pub fn open_topic(&self, topic: &str) -> Result<Topic, NatsError> {
        let meta = self.runtime.block_on(open_topic(&self.js, topic))?;
        Ok(Topic { meta })
    }

    /// Deletes the topic: every partition stream, then the metadata.
    pub fn delete_topic(&self, topic: &Topic) -> Result<(), NatsError> {
        self.runtime.block_on(delete_topic(&self.js, &topic.meta))
    }

    /// The names of every topic on the server, sorted.
    pub fn list_topics(&self) -> Result<Vec<String>, NatsError> {
        self.runtime.block_on(list_topics(&self.js))
    }

    /// Publishes `records` to one partition, pipelined (see [`crate::publish`]), each with
    /// its message id; with `expected_last`, record `i` is accepted only as sequence
    /// `expected_last + i + 1`.
    pub fn publish(
        &self,
        topic: &Topic,
        partition: u32,
        records: &[OutRecord],
        expected_last: Option<u64>,
    ) -> Result<Vec<PublishAck>, PublishFailure> {
        let stream = topic.stream(partition).map_err(|error| PublishFailure {
            acked: Vec::new(),
            error,
        })?;
        let subject = partition_subject(topic.name(), partition);
        let target = Target {
            stream: &stream,
            subject: &subject,
        };
        self.runtime.block_on(publish_batch(
            &self.js,
            &target,
            records,
            expected_last,
            self.options.publish_in_flight_max,
        ))
    }

    /// The partition's first kept and last sequence.
    pub fn partition_state(
        &self,
        topic: &Topic,
        partition: u32,
    ) -> Result<PartitionState, NatsError> {
        let stream = topic.stream(partition)?;
        self.runtime.block_on(async {
            let mut stream = get_stream(&self.js, &stream).await?;
            partition_state(&mut stream).await
        })
    }

    /// The server leading the partition's stream now (its `server_name`), `None` on a
    /// server that is not clustered or while no leader is elected.
    pub fn partition_leader(
        &self,
        topic: &Topic,
        partition: u32,
    ) -> Result<Option<String>, NatsError> {
        let stream = topic.stream(partition)?;
        self.runtime.block_on(async {
            let mut stream = get_stream(&self.js, &stream).await?;
            stream_leader(&mut stream).await
        })
    }

    /// The sequence of the first record of `partition` the server stored at or after
    /// `time_ms` (ms since the Unix epoch), or its last sequence + 1 if none is yet (see
    /// [`crate::time_lookup`]).
    pub fn sequence_at_time(
        &self,
        topic: &Topic,
        partition: u32,
        time_ms: i64,
    ) -> Result<u64, NatsError> {
        let stream = topic.stream(partition)?;
        let timeout_ms = self.options.request_timeout_ms;
        self.runtime.block_on(async {
            let mut stream = get_stream(&self.js, &stream).await?;
            first_seq_at_or_after(&mut stream, time_ms, timeout_ms).await
        })
    }

    /// The partition's last record, `None` if it has none.
    pub fn tail(&self, topic: &Topic, partition: u32) -> Result<Option<StoredRecord>, NatsError> {
        let stream = topic.stream(partition)?;
        let subject = partition_subject(topic.name(), partition);
        self.runtime.block_on(async {
            let stream = get_stream(&self.js, &stream).await?;
            tail(&stream, &subject).await
        })
    }

    /// A reader of `partition` from sequence `from_seq` (the first is 1) to the partition's
    /// last sequence now; [`NatsError::RetentionDeleted`] if records from `from_seq` on are
    /// gone.
    pub fn reader(
        &self,
        topic: &Topic,
        partition: u32,
        from_seq: u64,
    ) -> Result<Reader<'_>, NatsError> {
        let stream = topic.stream(partition)?;
        let idle_timeout_ms = self.options.request_timeout_ms;
        let inner = self.runtime.block_on(async {
            let stream = get_stream(&self.js, &stream).await?;
            PartitionReader::open(stream, from_seq, idle_timeout_ms).await
        })?;
        Ok(Reader { log: self, inner })
    }
}
