//! [`KafkaInputOptions`]: the broker, the topic and every wait of a [`crate::KafkaInput`].
//! A leaf module.

use std::time::Duration;

/// Where a [`crate::KafkaInput`] reads and how long it waits.
#[derive(Clone, Debug)]
pub struct KafkaInputOptions {
    /// `host:port[,host:port…]` of the broker(s).
    pub bootstrap_servers: String,
    /// The topic read.
    pub topic: String,
    /// Longest wait for the topic's metadata when connecting.
    pub metadata_timeout: Duration,
    /// Longest a read waits without a record and without learning that the partition is
    /// at its end (a broker that is down or restarting) before it fails the job.
    pub stall_timeout: Duration,
    /// Further librdkafka settings (`key`, `value`), applied last.
    pub client_settings: Vec<(String, String)>,
}

impl KafkaInputOptions {
    /// Topic `topic` of the broker at `bootstrap_servers`, with waits that ride out a
    /// broker restart (30 s).
    pub fn new(bootstrap_servers: &str, topic: &str) -> Self {
        Self {
            bootstrap_servers: bootstrap_servers.to_string(),
            topic: topic.to_string(),
            metadata_timeout: Duration::from_secs(30),
            stall_timeout: Duration::from_secs(30),
            client_settings: Vec::new(),
        }
    }
}
