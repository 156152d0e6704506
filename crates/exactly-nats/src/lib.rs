//! Topics of exactly on NATS JetStream, for users whose data lives in JetStream or who need
//! a log replicated across machines.
//!
//! A topic with P partitions is P streams, one per partition: a stream is JetStream's unit
//! of order and replication (like a Kafka partition) and its sequence plays the offset.
//! Records are published pipelined, each with a deterministic message id (its lineage),
//! optionally conditional on the stream's last sequence; they are read with an ordered
//! consumer from a sequence to the end as of the call, and the tail is one lookup. This is
//! what the engine's JetStream source and exactly-once sink build on: a source keeps its
//! position (a sequence) in its own checkpoint; a sink reads the tail, then publishes with
//! expected last sequences, so correctness never depends on JetStream's time-bounded
//! duplicate window (see `docs/nats.md`).
//!
//! The rest of exactly is synchronous: [`NatsLog`] is a blocking facade owning one tokio
//! runtime, over an async core that the modules below expose too.
//!
//! # Layout
//! - [`lineage`]: duplicates and gaps counted by lineage id (pure);
//! - [`naming`]: topic names, the injective escaping into stream names and subjects (pure);
//! - [`topic`]: topic options and metadata, the stream configurations they imply (pure);
//! - [`record`]: the record layout in a message — value as payload, key, timestamp and
//!   message id in headers (pure);
//! - [`connect`]: address lists, ping interval and timeouts;
//! - [`catalog`]: race-safe, idempotent topic creation and discovery (async);
//! - [`publish`]: pipelined publishing with message ids and expected sequences (async);
//! - [`read`]: ordered reads, the tail, retention checks (async);
//! - [`fence`]: refusing a writer whose epoch is below the tail's (pure);
//! - [`blocking`]: [`NatsLog`], the facade;
//! - [`engine_input`], [`engine_output`] (and the journal in `engine_journal`): a job of
//!   `exactly-engine` reading and writing topics on JetStream ([`NatsInput`],
//!   [`NatsOutput`]);
//! - [`job_run`]: a job run on JetStream — its state directory, lock and local epochs,
//!   and [`job_run::run_job`];
//! - [`job_restart`]: such a run started again in-process after a transient failure
//!   (a server restarting), from its last checkpoint under a new epoch;
//! - [`endpoint_source`], [`endpoint_publisher`]: an endpoint of `exactly-endpoint` on
//!   JetStream — its input through a durable consumer acknowledged after the store commit
//!   ([`NatsSource`]), its outbox published with the tail protocol ([`NatsPublisher`]);
//! - [`bank`]: the two-endpoint bank on JetStream — its feed ([`bank::NatsFeed`]),
//!   patient connecting, input waits, reading the outgoing topics back, run clean-up;
//! - [`produce`]: resumable idempotent producing of a JSON-lines input (what
//!   `exactly log produce --log nats://…` runs);
//! - [`consume`]: reading partitions to their end, and a topic audited by lineage id;
//! - [`generate`]: the built-in jobs' generated input published to a topic;
//! - [`describe`]: a log's topics and partitions, as `exactly log describe` prints them;
//! - [`scan`]: a producer's last record in a partition (how it resumes);
//! - [`server`]: nats-server processes for tests and benchmarks (single node, cluster);
//! - [`error`]: the error type, [`NatsError`].
//!
//! # Example
//!
//! ```no_run
//! use exactly_nats::{NatsLog, OutRecord, TopicOptions};
//!
//! let log = NatsLog::connect("nats://127.0.0.1:4222")?;
//! let topic = log.create_topic("payments", 4, TopicOptions::default())?;
//! let record = OutRecord {
//!     msg_id: "payments-import/line-1".into(),
//!     epoch: None,
//!     origin: None,
//!     key: Some(b"acct-1".to_vec()),
//!     timestamp_ms: 1_700_000_000_000,
//!     value: b"{\"amount\":5}".to_vec(),
//! };
//! let partition = topic.partition_for_key(b"acct-1");
//! let before = log.partition_state(&topic, partition)?.last_seq;
//! // Accepted only if nobody else wrote since `before`.
//! let acks = log.publish(&topic, partition, &[record], Some(before))?;
//! let mut reader = log.reader(&topic, partition, acks[0].sequence)?;
//! let records = reader.next_batch(100)?;
//! assert_eq!(records[0].value, b"{\"amount\":5}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod bank;
pub mod blocking;
pub mod catalog;
pub mod check_records;
pub mod connect;
pub mod consume;
pub mod describe;
pub mod endpoint_publisher;
pub mod endpoint_source;
pub mod engine_input;
mod engine_journal;
pub mod engine_output;
pub mod error;
pub mod fence;
pub mod generate;
pub mod job_restart;
pub mod job_run;
pub mod lineage;
pub mod naming;
pub mod produce;
pub mod publish;
pub mod read;
pub mod record;
pub mod scan;
pub mod server;
pub mod time_lookup;
pub mod topic;

pub use blocking::{NatsLog, Reader, Topic};
pub use connect::ClientOptions;
pub use endpoint_publisher::NatsPublisher;
pub use endpoint_source::{NatsEndpointInput, NatsSource};
pub use engine_input::NatsInput;
pub use engine_output::NatsOutput;
pub use error::NatsError;
pub use publish::{PublishAck, PublishFailure};
pub use read::PartitionState;
pub use record::{OutRecord, StoredRecord};
pub use topic::{Storage, TopicMeta, TopicOptions};
