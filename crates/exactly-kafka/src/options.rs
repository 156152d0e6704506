//! [`ServerOptions`]: every limit the server enforces, explicit.

use crate::security::SecurityOptions;
use std::net::SocketAddr;

/// Settings and limits of a [`crate::Server`]. Each limit is checked before the memory it
/// guards is allocated.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Where to listen (loopback by default).
    pub listen: SocketAddr,
    /// Largest request frame accepted (bytes, size prefix excluded); a bigger size prefix
    /// closes the connection before any of the frame is read.
    pub request_bytes_max: u32,
    /// Most connections served at once; further ones wait in the accept queue.
    pub connections_max: usize,
    /// Most requests of one connection being handled at once (responses still go back in
    /// request order, as the protocol requires).
    pub in_flight_per_connection_max: usize,
    /// Most bytes one fetch response carries, whatever the client asks for (at least one
    /// record is always returned, so a record bigger than this still makes progress).
    pub fetch_bytes_max: u32,
    /// Longest a fetch waits for data, whatever the client asks for.
    pub fetch_wait_ms_max: u32,
    /// Most decompressed bytes one produced record batch may expand to.
    pub decompressed_batch_bytes_max: usize,
    /// Most records one produced batch may hold.
    pub batch_records_max: u32,
    /// Partitions of a topic created because a client asked for it by name (Metadata with
    /// auto-creation allowed); `None`: never create topics implicitly.
    pub auto_create_partitions: Option<u32>,
    /// Most partitions a CreateTopics request may ask for, per topic.
    pub partitions_per_topic_max: u32,
    /// Largest request frame accepted before a connection has authenticated (SASL on):
    /// only ApiVersions and SASL messages are expected then, and every unauthenticated
    /// connection could otherwise make the server allocate `request_bytes_max`. Kafka
    /// brokers' `sasl.server.max.receive.size`.
    pub unauthenticated_request_bytes_max: u32,
    /// Longest a new connection may take to finish its TLS handshake and SASL
    /// authentication (when they are on); then it is closed. Bounds how long a flood of
    /// connections that never authenticate holds connection slots.
    pub handshake_timeout_ms: u64,
    /// Longest from the first byte of a request frame to its last; then the connection
    /// is closed (a client trickling bytes cannot hold a slot and a buffer forever).
    pub frame_timeout_ms: u64,
    /// Longest a connection may stay silent between requests (answers in progress, such
    /// as long polls, do not count); then it is closed.
    pub idle_timeout_ms: u64,
    /// TLS, SASL and ACLs (all off by default).
    pub security: SecurityOptions,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 9092)),
            request_bytes_max: 100 << 20,
            connections_max: 1024,
            in_flight_per_connection_max: 16,
            fetch_bytes_max: 50 << 20,
            fetch_wait_ms_max: 30_000,
            decompressed_batch_bytes_max: 128 << 20,
            batch_records_max: 1_000_000,
            auto_create_partitions: Some(1),
            partitions_per_topic_max: 1024,
            unauthenticated_request_bytes_max: 512 << 10,
            handshake_timeout_ms: 10_000,
            frame_timeout_ms: 30_000,
            // Kafka brokers' `connections.max.idle.ms`.
            idle_timeout_ms: 600_000,
            security: SecurityOptions::default(),
        }
    }
}
