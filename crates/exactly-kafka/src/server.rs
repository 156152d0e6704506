//! [`Server`]: the listener, the connection limit, and the periodic work (group deadlines,
//! transaction timeouts).

use crate::broker::{blocking, Broker};
use crate::connection;
use crate::options::ServerOptions;
use crate::producer_ids::{ProducerIdError, ProducerIds, FILE_NAME};
use crate::security::SecurityCounters;
use exactly_core::storage::StdStorage;
use exactly_log::{Log, LogConfig, OpenError};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// How often group deadlines and session expiries are checked.
const GROUP_TICK_MS: u64 = 200;
/// How often transactions past their timeout are aborted.
const TXN_EXPIRY_MS: u64 = 1_000;

/// Why the server could not start.
#[derive(Debug, Error)]
pub enum ServeError {
    /// Binding the listener failed.
    #[error("listening on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The failure.
        source: std::io::Error,
    },
    /// The producer id reservation could not be loaded.
    #[error(transparent)]
    ProducerIds(#[from] ProducerIdError),
    /// The async runtime could not be built.
    #[error("starting the async runtime: {0}")]
    Runtime(std::io::Error),
    /// Accepting a connection failed.
    #[error("accepting a connection: {0}")]
    Accept(std::io::Error),
    /// The log to serve could not be opened.
    #[error("opening the log in {}", .dir.display())]
    Open {
        /// The log directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: OpenError,
    },
}

/// A Kafka-protocol server over a log.
#[derive(Debug)]
pub struct Server {
    broker: Arc<Broker>,
    listener: TcpListener,
}

impl Server {
    /// Binds `options.listen` over `log` (which must live as long as the process:
    /// transactional producers borrow it).
    pub async fn bind(log: &'static Log, options: ServerOptions) -> Result<Self, ServeError> {
        let addr = options.listen;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| ServeError::Bind { addr, source })?;
        let host = match local.ip().is_unspecified() {
            true => "127.0.0.1".to_string(),
            false => local.ip().to_string(),
        };
        let producer_ids = ProducerIds::open(Arc::new(StdStorage), log.dir().join(FILE_NAME))?;
        let broker = Broker::new(log, options, host, i32::from(local.port()), producer_ids);
        Ok(Self {
            broker: Arc::new(broker),
            listener,
        })
    }

    /// The address the server listens on (the real port when asked for port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Authentication failures and denials so far.
    pub fn security_counters(&self) -> Arc<SecurityCounters> {
        self.broker.security_counters.clone()
    }

    /// Serves until the process ends (or accepting fails).
    pub async fn run(self) -> Result<(), ServeError> {
        tokio::spawn(periodic(self.broker.clone()));
        let connections = Arc::new(Semaphore::new(self.broker.options.connections_max.max(1)));
        loop {
            // Waiting for a permit before accepting leaves extra clients in the kernel's
            // accept queue instead of holding memory for them.
            let Ok(permit) = connections.clone().acquire_owned().await else {
                return Ok(()); // the semaphore is never closed
            };
            let (stream, peer) = self.listener.accept().await.map_err(ServeError::Accept)?;
            let broker = self.broker.clone();
            tokio::spawn(async move {
                if let Err(e) = connection::serve(broker, stream, peer).await {
                    tracing::debug!(%peer, error = %e, "connection closed");
                }
                drop(permit);
            });
        }
    }
}

async fn periodic(broker: Arc<Broker>) {
    let mut ticks = tokio::time::interval(Duration::from_millis(GROUP_TICK_MS));
    let per_expiry = TXN_EXPIRY_MS / GROUP_TICK_MS;
    let mut n: u64 = 0;
    loop {
        ticks.tick().await;
        broker.groups.tick();
        n += 1;
        if n.is_multiple_of(per_expiry) {
            let log = broker.log;
            match blocking(move || log.expire_transactions()).await {
                Ok(Ok(0)) => {}
                Ok(Ok(_)) => broker.data_changed(),
                Ok(Err(e)) => tracing::warn!(error = %e, "expiring transactions failed"),
                Err(e) => tracing::warn!(error = %e, "transaction expiry task failed"),
            }
        }
    }
}

/// Opens (or creates) the log in `dir` and serves it with [`serve_blocking`] until the
/// process ends, as `exactly serve` does. The log is never closed: transactional
/// producers borrow it for the life of the server, which is the life of the process (a
/// stop is a kill, after which recovery runs as after any crash; every acknowledged write
/// is already durable).
pub fn serve_dir(
    dir: &Path,
    options: ServerOptions,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    let log = Log::open(dir, LogConfig::default()).map_err(|source| ServeError::Open {
        dir: dir.to_path_buf(),
        source,
    })?;
    let log: &'static Log = Box::leak(Box::new(log));
    serve_blocking(log, options, ready)
}

/// Builds a multi-threaded runtime, binds, calls `ready` with the listening address, and
/// serves until the process ends: the whole server for a command-line tool.
pub fn serve_blocking(
    log: &'static Log,
    options: ServerOptions,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("exactly-kafka")
        .build()
        .map_err(ServeError::Runtime)?;
    runtime.block_on(async move {
        let server = Server::bind(log, options).await?;
        let addr = server.local_addr().map_err(ServeError::Accept)?;
        ready(addr);
        server.run().await
    })
}
