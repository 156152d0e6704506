//! `exactly-kafka`: the embedded log served over the Kafka wire protocol, so that
//! unmodified Kafka clients (librdkafka and kcat, confluent-kafka, kafka-python, …) produce
//! to it and consume from it with the log's guarantees: acknowledged writes are durable,
//! idempotent producers' retries are de-duplicated by the log's producer table,
//! transactions commit or abort atomically through the log's coordinator, and
//! `read_committed` readers never see aborted data.
//!
//! # Layout
//! - [`server`]: the listener and the connection limit; [`connection`]: one client
//!   (framing with the size checked before allocation, requests in flight, responses in
//!   order); [`frame`]: the size prefix (pure); [`dispatch`]: header, version check,
//!   routing.
//! - One file per API family: [`api_versions`], [`metadata`], [`create_topics`],
//!   [`produce`], [`fetch`], [`list_offsets`], [`init_producer_id`], [`find_coordinator`],
//!   `txn_*` (transactions), [`group`] (consumer groups and committed offsets).
//! - The translation to the log: [`record_batch`] (Kafka record batches v2 ⇄ the log's
//!   records), [`envelope`] (headers and null values inside the log's value),
//!   [`compression`] (bounded decompression), [`codes`] (the log's errors as Kafka error
//!   codes), [`txn_state`] (Kafka transactional ids over the log's transactional
//!   producers), [`producer_ids`] (durable ids for idempotent producers).
//! - [`security`]: TLS, SASL (PLAIN, SCRAM) and ACLs; every handler asks the
//!   connection's [`security::Access`] before it acts.
//! - [`broker`]: the state every handler shares; [`options`]: every limit.
//! - [`render`]: records printed as `exactly log consume` prints them (JSON lines, raw
//!   bytes as kcat, a table), headers and tombstones taken from the envelope.
//! - [`security::files`]: the server's security options loaded from files (TLS
//!   certificates, the users file, the ACL file), as `exactly serve` takes them.
//!
//! `docs/kafka.md` lists the supported APIs and versions and what is not supported.
//!
//! # Example
//! ```no_run
//! use exactly_kafka::{serve_blocking, ServerOptions};
//! use exactly_log::{Log, LogConfig};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let log = Log::open("/tmp/exactly-kafka-example", LogConfig::default())?;
//! // Transactional producers borrow the log for the life of the server.
//! let log: &'static Log = Box::leak(Box::new(log));
//! let options = ServerOptions {
//!     listen: "127.0.0.1:9092".parse()?,
//!     ..ServerOptions::default()
//! };
//! serve_blocking(log, options, |addr| println!("listening on {addr}"))?;
//! # Ok(()) }
//! ```

pub mod api_versions;
pub mod broker;
pub mod codes;
pub mod compression;
pub mod connection;
pub mod create_topics;
pub mod dispatch;
pub mod envelope;
pub mod fetch;
pub mod find_coordinator;
pub mod frame;
pub mod fuzz_entry;
pub mod group;
pub mod init_producer_id;
pub mod list_offsets;
pub mod metadata;
pub mod options;
pub mod produce;
pub mod producer_ids;
pub mod record_batch;
pub mod render;
pub mod security;
pub mod server;
pub mod txn_add_offsets;
pub mod txn_add_partitions;
pub mod txn_end;
pub mod txn_offset_commit;
pub mod txn_state;
pub mod varint;

pub use options::ServerOptions;
pub use server::{serve_blocking, serve_dir, ServeError, Server};
