//! Topic metadata and the stream configurations it determines (pure).
//!
//! A topic's metadata — partition count and options — is one JSON message in the topic's
//! metadata stream, published with `Nats-Expected-Last-Sequence: 0`: of racing creators
//! exactly one succeeds (JetStream checks the expectation when it applies the message, on
//! every replica), and everyone else reads the winner's metadata. The partition streams'
//! configurations follow from the metadata alone, so any process can finish a creation that
//! crashed half-way.

use crate::naming::{meta_stream, meta_subject, partition_stream, partition_subject};
use async_nats::jetstream::stream::{Config, DiscardPolicy, RetentionPolicy, StorageType};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Version of the metadata message's layout.
pub const META_VERSION: u32 = 1;

/// Where a stream keeps its messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Storage {
    /// On disk (the default).
    File,
    /// In memory (lost when the server stops).
    Memory,
}

impl std::str::FromStr for Storage {
    type Err = String;

    /// `file` or `memory`.
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "file" => Ok(Storage::File),
            "memory" => Ok(Storage::Memory),
            other => Err(format!("unknown storage '{other}': want file or memory")),
        }
    }
}

/// Options of a topic: each becomes the same setting of every partition's stream. With
/// the `clap` feature they are also command-line flags (as `exactly log create` takes
/// them; the defaults are [`TopicOptions::default`]'s).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct TopicOptions {
    /// Replicas of each stream (1, 3 or 5 on a cluster).
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            default_value_t = 1,
            help = "NATS: replicas of each partition's stream (1, 3 or 5)"
        )
    )]
    pub replicas: u32,
    /// Messages older than this are deleted (`0`: kept until deleted explicitly).
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            default_value_t = 0,
            help = "NATS: delete records older than this (0: keep)"
        )
    )]
    pub max_age_ms: u64,
    /// File or memory.
    #[cfg_attr(
        feature = "clap",
        arg(long, default_value = "file", help = "NATS: file or memory")
    )]
    pub storage: Storage,
    /// How long JetStream remembers a message id to drop a retried publish. Exactly-once
    /// does not depend on it (see the crate docs); a longer window costs server memory.
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            default_value_t = 120_000,
            help = "NATS: how long the server remembers message ids (exactly-once does not rely on it)"
        )
    )]
    pub duplicate_window_ms: u64,
    /// Largest message (payload + headers) a stream accepts, bytes.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 1024 * 1024, help = "NATS: largest record (payload + headers), bytes"))]
    pub max_message_bytes: u32,
}

impl Default for TopicOptions {
    fn default() -> Self {
        TopicOptions {
            replicas: 1,
            max_age_ms: 0,
            storage: Storage::File,
            duplicate_window_ms: 120_000,
            max_message_bytes: 1024 * 1024,
        }
    }
}

/// What the metadata stream records about a topic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicMeta {
    /// Layout version ([`META_VERSION`]).
    pub version: u32,
    /// The topic's name.
    pub topic: String,
    /// Number of partitions (= streams).
    pub partitions: u32,
    /// The options every partition stream has.
    pub options: TopicOptions,
}

impl TopicMeta {
    /// Metadata of a new topic.
    pub fn new(topic: &str, partitions: u32, options: TopicOptions) -> Self {
        TopicMeta {
            version: META_VERSION,
            topic: topic.to_string(),
            partitions,
            options,
        }
    }
}

fn storage_type(storage: Storage) -> StorageType {
    match storage {
        Storage::File => StorageType::File,
        Storage::Memory => StorageType::Memory,
    }
}

/// Configuration of the stream of partition `partition`.
///
/// # Panics
/// If `meta.options.max_message_bytes` exceeds `i32::MAX`: metadata must have passed the
/// checks of `create_topic` (or of reading it back, which `open_topic` does) first.
pub fn partition_config(meta: &TopicMeta, partition: u32) -> Config {
    let options = &meta.options;
    // JetStream requires duplicate_window ≤ max_age when max_age is set.
    let window_ms = match options.max_age_ms {
        0 => options.duplicate_window_ms,
        age => options.duplicate_window_ms.min(age),
    };
    Config {
        name: partition_stream(&meta.topic, partition),
        subjects: vec![partition_subject(&meta.topic, partition)],
        retention: RetentionPolicy::Limits,
        max_age: Duration::from_millis(options.max_age_ms),
        storage: storage_type(options.storage),
        num_replicas: options.replicas as usize, // a u32 fits a usize on every supported target
        duplicate_window: Duration::from_millis(window_ms),
        #[allow(clippy::expect_used)]
        // invariant: every metadata reaching here was validated (`max_message_bytes` in
        // 1..=i32::MAX): by `create_topic` before it is stored, by `read_meta` when read
        // back from the server (out of range there is `MetadataDamaged`).
        max_message_size: i32::try_from(options.max_message_bytes)
            .expect("validated metadata: max_message_bytes fits an i32"),
        allow_direct: true,
        discard: DiscardPolicy::Old,
        ..Config::default()
    }
}

/// Configuration of the topic's metadata stream: one message, never replaced.
pub fn meta_config(topic: &str, options: &TopicOptions) -> Config {
    Config {
        name: meta_stream(topic),
        subjects: vec![meta_subject(topic)],
        retention: RetentionPolicy::Limits,
        storage: storage_type(options.storage),
        num_replicas: options.replicas as usize, // a u32 fits a usize on every supported target
        max_messages: 1,
        discard: DiscardPolicy::New,
        allow_direct: true,
        ..Config::default()
    }
}
