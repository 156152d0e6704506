//! [`NetnsNatsCluster`]: a NATS JetStream cluster with one `nats-server` per
//! [`crate::Host`], each listening on its host's address (clients on [`CLIENT_PORT`],
//! routes on [`ROUTE_PORT`], monitoring on [`MONITOR_PORT`]), routed to all the others,
//! `sync_interval: always`, its own store under the given directory. A node can be
//! SIGKILLed and restarted on the same store; leaders are read from the monitoring
//! ports. The binary is [`exactly_nats::server::server_binary`] (the pinned ≥ 2.10
//! server: per-subject conditional publishes are racy with R3 on 2.9).

use crate::nats_monitor::{self, JetStreamView, MonitorError};
use crate::netns::Host;
use exactly_nats::server::{Launcher, NatsServer, ServerError};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

/// Every node's client port (each host has its own address, so they can share it).
pub const CLIENT_PORT: u16 = 4222;

/// Every node's cluster (route) port.
pub const ROUTE_PORT: u16 = 6222;

/// Every node's monitoring (HTTP) port.
pub const MONITOR_PORT: u16 = 8222;

/// The cluster's name in the servers' configuration.
const CLUSTER_NAME: &str = "exactly-netns";

/// Why the cluster could not be started or controlled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetnsNatsError {
    /// Starting, killing or waiting for a node failed.
    #[error("node n{node}: {source}")]
    Server {
        /// The node's index.
        node: usize,
        /// Why.
        source: ServerError,
    },
    /// Its monitoring port gave no answer.
    #[error("node n{node}'s monitoring: {source}")]
    Monitor {
        /// The node's index.
        node: usize,
        /// Why.
        source: MonitorError,
    },
    /// There is no node with that index.
    #[error("no node n{0}")]
    NoNode(usize),
}

/// Nodes `n0`, `n1`, … on hosts in the order given; dropping it SIGKILLs them.
pub struct NetnsNatsCluster {
    nodes: Vec<NatsServer>,
    hosts: Vec<Host>,
}

impl NetnsNatsCluster {
    /// Starts one node per host (three for R3 streams), storing under `dir/n<i>/`.
    /// Returns once every process is spawned; see [`NetnsNatsCluster::wait_ready`].
    pub fn start(hosts: &[Host], dir: &Path) -> Result<Self, NetnsNatsError> {
        let routes: Vec<String> = hosts
            .iter()
            .map(|h| format!("nats-route://{}:{ROUTE_PORT}", h.addr()))
            .collect();
        let mut cluster = Self {
            nodes: Vec::new(),
            hosts: hosts.to_vec(),
        };
        for (index, host) in hosts.iter().enumerate() {
            let node =
                start_node(index, host, dir, &routes).map_err(|source| NetnsNatsError::Server {
                    node: index,
                    source,
                })?;
            // Pushed one by one: a failure later drops (kills) the ones started.
            cluster.nodes.push(node);
        }
        Ok(cluster)
    }

    /// Waits until every node accepts client connections.
    pub fn wait_ready(&self, timeout_ms: u64) -> Result<(), NetnsNatsError> {
        (0..self.nodes.len()).try_for_each(|index| self.wait_node_ready(index, timeout_ms))
    }

    /// Waits until node `index` accepts client connections.
    pub fn wait_node_ready(&self, index: usize, timeout_ms: u64) -> Result<(), NetnsNatsError> {
        self.node(index)?
            .wait_ready(timeout_ms)
            .map_err(|source| NetnsNatsError::Server {
                node: index,
                source,
            })
    }

    /// Node `index`'s server (its address, url, pid; pause and resume).
    pub fn node(&self, index: usize) -> Result<&NatsServer, NetnsNatsError> {
        self.nodes.get(index).ok_or(NetnsNatsError::NoNode(index))
    }

    /// How many nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether it has no node.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Node `index`'s host.
    pub fn host(&self, index: usize) -> Result<&Host, NetnsNatsError> {
        self.hosts.get(index).ok_or(NetnsNatsError::NoNode(index))
    }

    /// `nats://a:p,b:p,…` listing every node.
    pub fn url(&self) -> String {
        let all: Vec<usize> = (0..self.nodes.len()).collect();
        self.url_of(&all)
    }

    /// `nats://…` listing only the nodes `indices` (a client that must not pick a cut
    /// host); unknown indices are left out.
    pub fn url_of(&self, indices: &[usize]) -> String {
        let addrs: Vec<String> = indices
            .iter()
            .filter_map(|&i| self.nodes.get(i))
            .map(|node| node.addr().to_string())
            .collect();
        format!("nats://{}", addrs.join(","))
    }

    /// SIGKILLs node `index` (the `nats-server` process itself) and reaps it.
    pub fn kill(&mut self, index: usize) -> Result<(), NetnsNatsError> {
        self.node_mut(index)?
            .kill()
            .map_err(|source| NetnsNatsError::Server {
                node: index,
                source,
            })
    }

    /// Starts node `index` again on its host, with the same configuration and store.
    pub fn restart(&mut self, index: usize) -> Result<(), NetnsNatsError> {
        self.node_mut(index)?
            .restart()
            .map_err(|source| NetnsNatsError::Server {
                node: index,
                source,
            })
    }

    fn node_mut(&mut self, index: usize) -> Result<&mut NatsServer, NetnsNatsError> {
        self.nodes
            .get_mut(index)
            .ok_or(NetnsNatsError::NoNode(index))
    }

    /// Node `index`'s monitoring address.
    pub fn monitor_addr(&self, index: usize) -> Result<SocketAddr, NetnsNatsError> {
        let host = self.host(index)?;
        Ok(SocketAddr::new(IpAddr::V4(host.addr()), MONITOR_PORT))
    }

    /// The node that leads the JetStream meta group, by its own word: the first node
    /// whose monitoring port answers and names itself. `None` while there is no leader
    /// (an election) or no leader can be reached. Unreachable nodes are skipped.
    pub fn meta_leader(&self) -> Option<usize> {
        self.first_claiming(|view| view.meta_leader.clone())
    }

    /// The node that leads `stream` (account `$G`), by its own word, as
    /// [`NetnsNatsCluster::meta_leader`].
    pub fn stream_leader(&self, stream: &str) -> Option<usize> {
        self.first_claiming(|view| {
            let found = view.streams.iter().find(|s| s.name == stream);
            found.and_then(|s| s.leader.clone())
        })
    }

    /// What node `index` says about JetStream: the leaders it knows, its replicas.
    pub fn view_of(&self, index: usize) -> Result<JetStreamView, NetnsNatsError> {
        let addr = self.monitor_addr(index)?;
        nats_monitor::jetstream_view(addr).map_err(|source| NetnsNatsError::Monitor {
            node: index,
            source,
        })
    }

    /// The first node `i` whose view, read by `leader_in`, names `n<i>` itself.
    fn first_claiming(
        &self,
        leader_in: impl Fn(&JetStreamView) -> Option<String>,
    ) -> Option<usize> {
        (0..self.nodes.len()).find(|&index| {
            let Ok(view) = self.view_of(index) else {
                return false; // cut, killed or not up yet: it leads nothing we can see
            };
            leader_in(&view).as_deref() == Some(node_name(index).as_str())
        })
    }
}

/// A node's `server_name`.
pub fn node_name(index: usize) -> String {
    format!("n{index}")
}

fn start_node(
    index: usize,
    host: &Host,
    dir: &Path,
    routes: &[String],
) -> Result<NatsServer, ServerError> {
    let name = node_name(index);
    let addr = host.addr();
    let store = dir.join(&name).join("store");
    let config = format!(
        "server_name: {name}\nlisten: {addr}:{CLIENT_PORT}\nhttp: {addr}:{MONITOR_PORT}\n\
         jetstream {{\n  store_dir: {store:?}\n  sync_interval: always\n}}\n\
         cluster {{\n  name: {CLUSTER_NAME}\n  listen: {addr}:{ROUTE_PORT}\n  routes: [{}]\n}}\n",
        routes.join(", ")
    );
    let in_namespace = host.clone();
    let launcher: Launcher = Arc::new(move |binary: &Path| in_namespace.command(binary));
    let client = SocketAddr::new(IpAddr::V4(addr), CLIENT_PORT);
    NatsServer::start_with_config(dir, &name, client, &config, launcher)
}
