//! `exactly serve` inside the benchmark's process: the Kafka-protocol server over a log of
//! its own, on a loopback port, on a runtime of its own threads.

use crate::error::{BenchError, Context};
use exactly_kafka::{Server, ServerOptions};
use exactly_log::{Log, LogConfig};
use std::net::SocketAddr;
use std::path::Path;

/// The running server; it stops when this is dropped (its runtime shuts down).
pub(crate) struct BenchServer {
    /// The server's log: the in-process baselines use it too (their own topics).
    pub log: &'static Log,
    /// `host:port` it listens on.
    pub addr: String,
    _runtime: tokio::runtime::Runtime,
}

/// Starts the server over a log in `dir`. The log is leaked: the server's transactional
/// producers borrow it for the life of the process (one per benchmark run).
pub(crate) fn start(dir: &Path) -> Result<BenchServer, BenchError> {
    let log = Log::open(dir, LogConfig::default()).during("opening the server's log")?;
    let log: &'static Log = Box::leak(Box::new(log));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("bench-kafka-server")
        .build()
        .map_err(|source| BenchError::Net {
            what: "starting the server's runtime",
            source,
        })?;
    let options = ServerOptions {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..ServerOptions::default()
    };
    let server = runtime
        .block_on(Server::bind(log, options))
        .during("binding the server")?;
    let addr = server.local_addr().map_err(|source| BenchError::Net {
        what: "reading the server's address",
        source,
    })?;
    runtime.spawn(async move {
        if let Err(error) = server.run().await {
            tracing::error!(%error, "the benchmark's Kafka server stopped");
        }
    });
    Ok(BenchServer {
        log,
        addr: addr.to_string(),
        _runtime: runtime,
    })
}
