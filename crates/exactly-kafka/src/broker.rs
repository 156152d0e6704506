//! [`Broker`]: what every request handler shares — the log, the limits, the producer id
//! allocator, transactional producers, consumer groups, and a signal that data changed
//! (which wakes long-polling fetches).

use crate::group::Groups;
use crate::options::ServerOptions;
use crate::producer_ids::ProducerIds;
use crate::security::SecurityCounters;
use crate::txn_state::TxnRegistry;
use exactly_log::Log;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// The node id the server reports for itself (one node: it leads every partition and
/// coordinates every group and transaction).
pub const NODE_ID: i32 = 0;

/// State shared by every connection.
#[derive(Debug)]
pub struct Broker {
    /// The log, which lives as long as the process (transactional producers borrow it).
    pub log: &'static Log,
    /// Limits.
    pub options: ServerOptions,
    /// Host clients should connect to (the listening address).
    pub host: String,
    /// Port clients should connect to.
    pub port: i32,
    /// Ids for idempotent producers.
    pub producer_ids: Mutex<ProducerIds>,
    /// Transactional producers by transactional id.
    pub txns: TxnRegistry,
    /// Consumer groups.
    pub groups: Groups,
    /// Authentication failures and denials.
    pub security_counters: Arc<SecurityCounters>,
    changes: watch::Sender<u64>,
}

impl Broker {
    /// A broker over `log`, reachable at `host:port`.
    pub fn new(
        log: &'static Log,
        options: ServerOptions,
        host: String,
        port: i32,
        producer_ids: ProducerIds,
    ) -> Self {
        Self {
            log,
            options,
            host,
            port,
            producer_ids: Mutex::new(producer_ids),
            txns: TxnRegistry::default(),
            groups: Groups::default(),
            security_counters: Arc::default(),
            changes: watch::Sender::new(0),
        }
    }

    /// Tells waiting fetches that something became readable.
    pub fn data_changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver that sees [`Broker::data_changed`].
    pub fn watch_changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }
}

/// Runs a call into the (synchronous) log on tokio's blocking pool, never on the reactor.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, tokio::task::JoinError> {
    tokio::task::spawn_blocking(work).await
}
