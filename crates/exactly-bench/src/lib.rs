//! The bodies of `exactly bench …`: benchmarks whose every figure is compared with a
//! baseline measured in the same run, on the same machine, and is the **median** of
//! several interleaved rounds (never the best one).
//!
//! The `exactly` command line parses arguments and prints; everything measured lives here
//! and comes back as typed, serializable results.
//!
//! Layout:
//! - [`log`]: durable appends against raw `write` + `fdatasync` of the same bytes per sync,
//!   reads hot and cold, the cost of idempotence and of the durable-end evidence;
//! - [`pipe`]: raw UDP on loopback against the exactly-once pipe under injected loss, and
//!   the simulator's speed;
//! - [`endpoint`]: a naive PostgreSQL outbox against the batched endpoint (PostgreSQL and
//!   embedded store), with the embedded journal against raw `fdatasync` of its block size;
//! - [`txn`]: commits of concurrent transactional producers against the serialized
//!   path, and log open time after a long transaction history;
//! - [`engine`]: the `balances` job exactly-once against at-least-once and a pass-through,
//!   and recovery after `kill -9`;
//! - [`kafka`]: librdkafka against `exactly serve` over loopback (produce, consume, the
//!   transactional copy loop) beside in-process and non-transactional baselines;
//! - [`nats`]: JetStream pipelined publishing with a message id each against the log's
//!   idempotent producer, at the same durability class (page-cache ack, fsync per ack),
//!   the exactly-once sink on JetStream against that publish, and `run balances` on
//!   JetStream against the embedded log;
//! - [`cluster`]: distributed jobs on `exactly worker` processes under equal CPU quotas:
//!   per-worker throughput at 1, 2, 3 workers, end-to-end latency at a fixed rate, and
//!   the time from a worker's SIGKILL until its tasks run and checkpoint elsewhere;
//! - [`disk`]: the disk baselines (raw `fdatasync` bandwidth at a block size, dropping files
//!   from the page cache); [`counting`]: counting a log's segment bytes per sync;
//!   [`proc_usage`]: CPU seconds and RSS of a process (ours, or a server's by its port);
//!   [`stats`]: medians; [`error`]: the error type;
//! - [`table`]: the results as the text tables `exactly bench` prints.
//!
//! Criterion benchmarks of the CPU paths are in `benches/`.
//!
//! ```no_run
//! use exactly_bench::log::{run, LogBenchConfig};
//!
//! let config = LogBenchConfig { seconds: 0.5, rounds: 3, ..LogBenchConfig::default() };
//! let report = run(&config, &|step| eprintln!("{step}"))?;
//! for figure in &report.figures {
//!     println!("{}", serde_json::to_string(figure)?);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod cluster;
pub mod counting;
pub mod disk;
pub mod endpoint;
pub mod engine;
pub mod error;
pub mod kafka;
pub mod log;
pub mod nats;
pub mod pipe;
pub mod proc_usage;
pub mod stats;
pub mod table;
pub mod txn;

pub use disk::{drop_from_page_cache, raw_fdatasync_bytes};
pub use error::BenchError;
pub use stats::{median, median_by};
