//! `exactly-rdkafka`: Kafka-protocol brokers read through librdkafka (the `rdkafka`
//! crate): [`KafkaInput`], the engine's [`Input`](exactly_engine::runtime::Input) over a
//! Kafka topic.
//!
//! A job reading a Kafka topic keeps its positions (the topic's offsets) in its own
//! checkpoint, exactly as it does for the embedded log: partitions are assigned by hand
//! (no consumer group, nothing committed to the broker), every read is
//! `isolation.level=read_committed`, and a restored job seeks each partition back to the
//! offset its checkpoint names, so replayed records are the same records. Any broker
//! speaking the Kafka protocol works; the tests run against `exactly serve`.
//!
//! # Layout
//! - [`options`]: where to connect and how long to wait ([`KafkaInputOptions`]).
//! - [`input`]: [`KafkaInput`], one consumer per partition behind its own lock.
//! - [`partition_reader`]: one partition's consumer, its position and end-of-partition
//!   state (why an empty read means "nothing committed past here").
//! - [`record`]: a Kafka message as the engine's record.
//! - [`error`]: [`InputError`], every way reading can fail.
//!
//! `docs/kafka-clients.md` describes the behaviour, the build and the tests.
//!
//! # Example
//! ```no_run
//! use exactly_engine::jobs::{balances, Rejected};
//! use exactly_engine::runtime::RunOptions;
//! use exactly_engine::Guarantee;
//! use exactly_log::{Log, LogConfig};
//! use exactly_rdkafka::{KafkaInput, KafkaInputOptions};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let log = Log::open("/tmp/exactly-outputs", LogConfig::default())?;
//! let input = KafkaInput::connect(KafkaInputOptions::new("127.0.0.1:9092", "transfers"))?;
//! let job = balances("transfers", "balances", Rejected::default());
//! let options = RunOptions::new(&log, &job, Guarantee::ExactlyOnce);
//! let report = job.run_from(&log, &input, &options)?;
//! println!("{report:?}");
//! # Ok(()) }
//! ```

pub mod error;
pub mod input;
pub mod options;
pub mod partition_reader;
pub mod record;

pub use error::InputError;
pub use input::KafkaInput;
pub use options::KafkaInputOptions;
