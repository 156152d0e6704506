//! [`Hosts`]: network namespaces as hosts on one Linux bridge, for tests that need real
//! network faults (a host's link cut, processes SIGKILLed on their own host) on one
//! machine. Needs root (or `CAP_NET_ADMIN` and `CAP_SYS_ADMIN`).
//!
//! Topology for prefix `P` on network `a.b.c.0/24` (default [`DEFAULT_NETWORK`],
//! 10.231.0.0/24):
//! - bridge `P-br` in the root namespace, holding the gateway `a.b.c.1/24`;
//! - host `i` is namespace `P-h<i>`, with loopback up and `eth0` at `a.b.c.(10+i)/24`,
//!   the inner end of a veth pair whose outer end `P-h<i>` is a port of the bridge.
//!
//! The root namespace (the test process) reaches every host through the bridge, hosts
//! reach each other and the gateway; nothing is routed beyond (no default route, no
//! forwarding). Cutting a host's link sets the outer veth end down: nothing reaches or
//! leaves the host, its processes and sockets stay. See `docs/netns.md`.

use crate::netns_ip::{self, ip, NetnsError};
use std::net::Ipv4Addr;
use std::process::Command;

/// The /24 network used by [`Hosts::create`]: 10.231.0.0/24 (first three octets).
pub const DEFAULT_NETWORK: [u8; 3] = [10, 231, 0];

/// Host `i`'s address is `a.b.c.(HOST_OFFSET + i)`.
const HOST_OFFSET: u8 = 10;

/// Bound on hosts: `<prefix>-h<i>` fits an interface name, addresses stay below .255.
pub const HOSTS_MAX: usize = 100;

/// Network namespaces on one bridge; dropping it removes them all (processes still in a
/// namespace are SIGKILLed first), the veth pairs and the bridge.
#[derive(Debug)]
pub struct Hosts {
    prefix: String,
    network: [u8; 3],
    bridge_made: bool,
    hosts: Vec<Host>,
}

/// One host: a network namespace with one address on the bridge.
#[derive(Debug, Clone)]
pub struct Host {
    prefix: String,
    namespace: String,
    outer_link: String,
    addr: Ipv4Addr,
}

impl Hosts {
    /// Creates `count` hosts named after `prefix` on [`DEFAULT_NETWORK`], after removing
    /// any leftovers of a killed run with the same prefix ([`cleanup_stale`]).
    pub fn create(prefix: &str, count: usize) -> Result<Self, NetnsError> {
        Self::create_on(prefix, count, DEFAULT_NETWORK)
    }

    /// [`Hosts::create`] on the /24 network `a.b.c.0` given as `[a, b, c]`, for tests
    /// that run side by side (one network and one prefix per live `Hosts`).
    pub fn create_on(prefix: &str, count: usize, network: [u8; 3]) -> Result<Self, NetnsError> {
        check_prefix(prefix)?;
        if count > HOSTS_MAX {
            return Err(NetnsError::TooManyHosts {
                asked: count,
                max: HOSTS_MAX,
            });
        }
        cleanup_stale(prefix)?;
        // Built step by step inside the value, so that a failure half-way drops it and
        // removes what was made.
        let mut hosts = Hosts {
            prefix: prefix.to_string(),
            network,
            bridge_made: false,
            hosts: Vec::new(),
        };
        hosts.make_bridge()?;
        for index in 0..count {
            hosts.add_host(index)?;
        }
        Ok(hosts)
    }

    fn make_bridge(&mut self) -> Result<(), NetnsError> {
        let gateway = self.gateway();
        if let Some(interface) = netns_ip::interface_with_address(gateway)? {
            return Err(NetnsError::SubnetInUse { gateway, interface });
        }
        let bridge = self.bridge();
        ip(&["link", "add", &bridge, "type", "bridge"])?;
        self.bridge_made = true;
        ip(&["addr", "add", &format!("{gateway}/24"), "dev", &bridge])?;
        ip(&["link", "set", &bridge, "up"])?;
        Ok(())
    }

    fn add_host(&mut self, index: usize) -> Result<(), NetnsError> {
        let name = format!("{}-h{index}", self.prefix);
        let [a, b, c] = self.network;
        let last = HOST_OFFSET + u8::try_from(index).expect("index < HOSTS_MAX = 100");
        let host = Host {
            prefix: self.prefix.clone(),
            namespace: name.clone(),
            outer_link: name,
            addr: Ipv4Addr::new(a, b, c, last),
        };
        ip(&["netns", "add", &host.namespace])?;
        self.hosts.push(host.clone());
        host.wire(&self.bridge())?;
        Ok(())
    }

    /// The bridge's name, `<prefix>-br`.
    pub fn bridge(&self) -> String {
        format!("{}-br", self.prefix)
    }

    /// The bridge's address, `a.b.c.1`: the root namespace as the hosts see it (where a
    /// [`crate::TcpForwarder`] for a loopback service listens).
    pub fn gateway(&self) -> Ipv4Addr {
        let [a, b, c] = self.network;
        Ipv4Addr::new(a, b, c, 1)
    }

    /// Host `index`, if there are that many.
    pub fn host(&self, index: usize) -> Option<&Host> {
        self.hosts.get(index)
    }

    /// Every host, by index.
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        // A destructor cannot return errors; print them, so that a leftover is explained
        // (the next run's `cleanup_stale` removes it).
        for host in &self.hosts {
            if let Err(e) = host.remove() {
                eprintln!("netns: removing {}: {e}", host.namespace);
            }
        }
        if self.bridge_made {
            if let Err(e) = delete_link(&self.bridge()) {
                eprintln!("netns: removing bridge {}: {e}", self.bridge());
            }
        }
    }
}

impl Host {
    /// Creates the veth pair (inner end `eth0` made inside the namespace), attaches the
    /// outer end to `bridge`, addresses and raises both ends and loopback.
    fn wire(&self, bridge: &str) -> Result<(), NetnsError> {
        let ns = self.namespace.as_str();
        let outer = self.outer_link.as_str();
        ip(&[
            "link", "add", outer, "type", "veth", "peer", "name", "eth0", "netns", ns,
        ])?;
        ip(&["link", "set", outer, "master", bridge])?;
        ip(&["link", "set", outer, "up"])?;
        ip(&[
            "-n",
            ns,
            "addr",
            "add",
            &format!("{}/24", self.addr),
            "dev",
            "eth0",
        ])?;
        ip(&["-n", ns, "link", "set", "eth0", "up"])?;
        ip(&["-n", ns, "link", "set", "lo", "up"])?;
        Ok(())
    }

    /// Its namespace's name, `<prefix>-h<i>` (for `ip netns exec`, `ip -n`).
    pub fn name(&self) -> &str {
        &self.namespace
    }

    /// Its address on the bridge.
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// A command running `program` inside this host's network namespace. It goes through
    /// `nsenter --net=…`, which enters the namespace and then *execs* `program` (it forks
    /// only for a PID namespace): the child's pid is `program`'s, so SIGKILL reaches the
    /// real process and not a wrapper that would survive it.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new("nsenter");
        command
            .arg(format!("--net=/run/netns/{}", self.namespace))
            .arg("--")
            .arg(program);
        command
    }

    /// Cuts the host off: its outer veth end goes down, so nothing reaches or leaves it
    /// (the root namespace, other hosts, forwarders on the gateway included). Its own
    /// processes keep running and see no error until their timeouts.
    pub fn link_down(&self) -> Result<(), NetnsError> {
        ip(&["link", "set", &self.outer_link, "down"])?;
        Ok(())
    }

    /// Restores the link after [`Host::link_down`], and forgets the neighbour (ARP)
    /// entries on both sides of it, so the first connection after the restore works.
    pub fn link_up(&self) -> Result<(), NetnsError> {
        ip(&["link", "set", &self.outer_link, "up"])?;
        self.flush_neighbours()
    }

    /// An address resolution begun during the cut would otherwise still be running
    /// (`INCOMPLETE`): it fails its last probes and drops the packets that waited for it
    /// with "No route to host", although the link is up again. So drop this host's
    /// entries, the root namespace's and the other hosts' entries for it.
    fn flush_neighbours(&self) -> Result<(), NetnsError> {
        ip(&["-n", &self.namespace, "neigh", "flush", "dev", "eth0"])?;
        let to = self.addr.to_string();
        ip(&["neigh", "flush", "to", &to])?;
        let siblings = netns_ip::namespaces_with_prefix(&format!("{}-", self.prefix))?;
        for sibling in siblings.iter().filter(|name| **name != self.namespace) {
            ip(&["-n", sibling, "neigh", "flush", "to", &to])?;
        }
        Ok(())
    }

    /// Whether the outer end is up (not cut by [`Host::link_down`]).
    pub fn is_link_up(&self) -> Result<bool, NetnsError> {
        // `ip -o link show X` prints `N: X@ifM: <BROADCAST,MULTICAST,UP,LOWER_UP> …`.
        let listing = ip(&["-o", "link", "show", &self.outer_link])?;
        match listing.split(['<', '>']).nth(1) {
            Some(flags) => Ok(flags.split(',').any(|flag| flag == "UP")),
            // No flags printed: not a format `ip` has; call it down rather than guess up.
            None => Ok(false),
        }
    }

    /// Kills what runs inside, deletes the namespace and the veth pair.
    fn remove(&self) -> Result<(), NetnsError> {
        remove_namespace(&self.namespace)?;
        delete_link(&self.outer_link)
    }
}

/// Removes what a killed run with `prefix` left: its namespaces (after SIGKILLing the
/// processes inside), veth ends and bridge. Names are `<prefix>-…`, so other prefixes
/// are untouched. [`Hosts::create`] calls it first.
pub fn cleanup_stale(prefix: &str) -> Result<(), NetnsError> {
    check_prefix(prefix)?;
    let owned = format!("{prefix}-");
    for namespace in netns_ip::namespaces_with_prefix(&owned)? {
        remove_namespace(&namespace)?;
    }
    for link in netns_ip::links_with_prefix(&owned)? {
        delete_link(&link)?;
    }
    Ok(())
}

fn remove_namespace(name: &str) -> Result<(), NetnsError> {
    match netns_ip::kill_processes_in(name) {
        Err(e) if netns_ip::is_missing(&e) => return Ok(()),
        other => other?,
    }
    match ip(&["netns", "del", name]) {
        Err(e) if netns_ip::is_missing(&e) => Ok(()),
        other => other.map(drop),
    }
}

/// Deletes a link of the root namespace; one already gone (a veth whose peer's
/// namespace went away takes its pair along) is fine.
fn delete_link(name: &str) -> Result<(), NetnsError> {
    match ip(&["link", "del", name]) {
        Err(e) if netns_ip::is_missing(&e) => Ok(()),
        other => other.map(drop),
    }
}

fn check_prefix(prefix: &str) -> Result<(), NetnsError> {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    if prefix.is_empty() || prefix.len() > 8 || !prefix.chars().all(allowed) {
        return Err(NetnsError::BadPrefix(prefix.to_string()));
    }
    Ok(())
}
