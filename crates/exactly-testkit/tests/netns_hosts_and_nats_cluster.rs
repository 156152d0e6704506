//! Hosts on one machine, end to end: four network namespaces on a bridge, a 3-node
//! JetStream cluster on hosts 0–2, a node SIGKILLed (the real `nats-server`, in its
//! namespace) and restarted on its store, host 0 (made the stream's leader) cut while R3
//! publishes go on through the other two nodes, then restored; PostgreSQL (loopback only)
//! reached from host 3 through the forwarder on the gateway, and not while host 3's link
//! is down.
//!
//! Needs root and the pinned nats-server (`. .ci/setup-nats`); fails, never skips,
//! without them. Everything it creates is removed by guards even when it fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use async_nats::jetstream::{self, message::PublishMessage, stream};
use exactly_nats::connect::parse_servers;
use exactly_testkit::{Host, Hosts, NetnsNatsCluster, TcpForwarder};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

/// This test's names: namespaces `exnstest-h<i>`, bridge `exnstest-br`.
const PREFIX: &str = "exnstest";
const STREAM: &str = "CHAOS";
const STARTUP_MS: u64 = 30_000;
/// Elections take a few seconds here; leave room for a loaded machine.
const ELECTION_MS: u64 = 30_000;
const POSTGRES: &str = "127.0.0.1:5432";

#[test]
fn a_cut_host_is_unreachable_while_the_cluster_and_postgres_serve_the_others() {
    let hosts = Hosts::create(PREFIX, 4).expect("creating network namespaces (needs root)");
    let temp = tempfile::tempdir().unwrap();
    let servers = hosts.hosts().get(..3).expect("four hosts");
    let mut cluster = NetnsNatsCluster::start(servers, temp.path()).unwrap();
    cluster.wait_ready(STARTUP_MS).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let leader = wait_for("a meta leader", ELECTION_MS, || cluster.meta_leader());
    println!("meta leader: n{leader}");
    let mut published = runtime.block_on(create_and_publish(&cluster.url(), 0..10));

    kill_and_restart_node(&mut cluster, &hosts, 1);
    published += runtime.block_on(publish_range(&cluster.url_of(&[0, 1, 2]), 10..20));

    cut_host_0_and_publish_through_the_others(&hosts, &cluster, &runtime, &mut published);
    postgres_through_the_forwarder(&hosts);
}

/// SIGKILL reaches the `nats-server` process itself (the pid is its, in its host's
/// namespace); the node comes back on its store and rejoins.
fn kill_and_restart_node(cluster: &mut NetnsNatsCluster, hosts: &Hosts, index: usize) {
    let host = hosts.host(index).unwrap();
    let pid = cluster.node(index).unwrap().pid().unwrap();
    assert_eq!(process_name(pid).as_deref(), Some("nats-server"));
    assert_eq!(namespace_of(pid), host.name());
    cluster.kill(index).unwrap();
    assert!(
        process_name(pid).is_none(),
        "pid {pid} survived its SIGKILL"
    );
    assert!(!greets(cluster.node(index).unwrap().addr()));
    cluster.restart(index).unwrap();
    cluster.wait_node_ready(index, STARTUP_MS).unwrap();
    let new_pid = cluster.node(index).unwrap().pid().unwrap();
    assert_eq!(namespace_of(new_pid), host.name());
}

/// Host 0 cut: unreachable from the root namespace and from host 3, while R3 publishes
/// through nodes 1 and 2 are acknowledged (after an election if n0 led); restored, n0
/// is reachable again and catches up.
fn cut_host_0_and_publish_through_the_others(
    hosts: &Hosts,
    cluster: &NetnsNatsCluster,
    runtime: &tokio::runtime::Runtime,
    published: &mut u64,
) {
    let host0 = hosts.host(0).unwrap();
    let node0 = cluster.node(0).unwrap().addr();
    let node1 = cluster.node(1).unwrap().addr();
    let host3 = hosts.host(3).unwrap();
    assert!(
        greets_from(host3, node0),
        "host 3 reaches n0 before the cut"
    );
    // The cut takes the stream's leader: the others must elect one before they ack.
    runtime.block_on(move_stream_leader_to(cluster, 0));
    let cut = LinkCut::new(host0);
    assert!(!host0.is_link_up().unwrap());
    assert!(
        !greets(node0),
        "n0 answered the root namespace with its link down"
    );
    assert!(
        !greets_from(host3, node0),
        "n0 answered host 3 with its link down"
    );
    assert!(greets_from(host3, node1), "host 3 lost n1 when n0 was cut");

    let started = Instant::now();
    *published += runtime.block_on(publish_range(&cluster.url_of(&[1, 2]), 20..40));
    println!(
        "20 R3 publishes with n0 (the leader) cut: {:?}",
        started.elapsed()
    );
    let leader = wait_for("a stream leader on n1 or n2", ELECTION_MS, || {
        cluster.stream_leader(STREAM).filter(|&i| i != 0)
    });
    println!("stream leader with n0 cut: n{leader}");
    let stored = runtime.block_on(stream_messages(&cluster.url_of(&[1, 2])));
    assert_eq!(stored, *published, "stored twice or lost");

    drop(cut);
    assert!(host0.is_link_up().unwrap());
    wait_for("n0 reachable again", STARTUP_MS, || {
        greets(node0).then_some(())
    });
    wait_for("n0's replica caught up", ELECTION_MS, || {
        let view = cluster.view_of(0).ok()?;
        let replica = view.streams.into_iter().find(|s| s.name == STREAM)?;
        (replica.messages == *published).then_some(())
    });
}

/// Asks the stream's leader to step down in favour of node `index` until it leads.
async fn move_stream_leader_to(cluster: &NetnsNatsCluster, index: usize) {
    let client = connect(&cluster.url()).await.client();
    let subject = format!("$JS.API.STREAM.LEADER.STEPDOWN.{STREAM}");
    let body = format!(r#"{{"placement":{{"preferred":"n{index}"}}}}"#);
    let deadline = Instant::now() + Duration::from_millis(ELECTION_MS);
    while cluster.stream_leader(STREAM) != Some(index) {
        assert!(
            Instant::now() < deadline,
            "n{index} did not become {STREAM}'s leader"
        );
        // An error (no leader right now, say) is answered by the next round.
        let _ = client.request(subject.clone(), body.clone().into()).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// `psql` on host 3 reaches the loopback-only PostgreSQL through a forwarder on the
/// gateway; with host 3's link down it cannot.
fn postgres_through_the_forwarder(hosts: &Hosts) {
    let listen = SocketAddr::new(IpAddr::V4(hosts.gateway()), 0);
    let forwarder = TcpForwarder::start(listen, POSTGRES.parse().unwrap()).unwrap();
    let url = format!(
        "postgres://postgres@{}/test?connect_timeout=3",
        forwarder.local_addr()
    );
    let host3 = hosts.host(3).unwrap();
    assert_eq!(psql_from(host3, &url).as_deref(), Ok("1"));
    assert!(forwarder.accepted() >= 1);
    {
        let _cut = LinkCut::new(host3);
        let refused = psql_from(host3, &url);
        assert!(refused.is_err(), "psql through a cut link: {refused:?}");
    }
    assert_eq!(psql_from(host3, &url).as_deref(), Ok("1"));
}

/// A host's link cut for as long as it lives: restored even when an assertion fails in
/// between (the `Hosts` guard then removes everything anyway).
struct LinkCut<'a>(&'a Host);

impl<'a> LinkCut<'a> {
    fn new(host: &'a Host) -> Self {
        host.link_down().unwrap();
        LinkCut(host)
    }
}

impl Drop for LinkCut<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.0.link_up() {
            eprintln!("restoring {}'s link: {e}", self.0.name());
        }
    }
}

/// A client of the servers in `url` (`nats://a:p,b:p`, exactly's form).
async fn connect(url: &str) -> jetstream::Context {
    let client = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(2))
        .ping_interval(Duration::from_secs(2))
        .connect(parse_servers(url).unwrap())
        .await
        .unwrap();
    let mut js = jetstream::new(client);
    js.set_timeout(Duration::from_secs(3));
    js
}

/// Creates the R3 stream (retried: the meta leader may still be settling) and publishes
/// `range`; how many were published.
async fn create_and_publish(url: &str, range: std::ops::Range<u64>) -> u64 {
    let js = connect(url).await;
    let config = stream::Config {
        name: STREAM.to_string(),
        subjects: vec!["chaos.>".to_string()],
        num_replicas: 3,
        ..Default::default()
    };
    let deadline = Instant::now() + Duration::from_millis(ELECTION_MS);
    while let Err(e) = js.get_or_create_stream(config.clone()).await {
        assert!(Instant::now() < deadline, "creating {STREAM}: {e}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    publish_with(&js, range).await
}

async fn publish_range(url: &str, range: std::ops::Range<u64>) -> u64 {
    publish_with(&connect(url).await, range).await
}

/// Publishes each of `range` with its own message id, retrying until acknowledged (a
/// retry of a stored message is reported as a duplicate, not stored again).
async fn publish_with(js: &jetstream::Context, range: std::ops::Range<u64>) -> u64 {
    let count = range.end - range.start;
    for i in range {
        let deadline = Instant::now() + Duration::from_millis(ELECTION_MS);
        loop {
            let message = PublishMessage::build()
                .message_id(format!("m-{i}"))
                .payload(format!("{i}").into());
            let acked = match js.send_publish("chaos.m", message).await {
                Ok(ack) => ack.await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match acked {
                Ok(_) => break,
                Err(e) => assert!(Instant::now() < deadline, "publishing m-{i}: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    count
}

/// Messages in the stream, as its leader answers through the servers behind `url`.
async fn stream_messages(url: &str) -> u64 {
    let js = connect(url).await;
    let deadline = Instant::now() + Duration::from_millis(ELECTION_MS);
    loop {
        match js.get_stream(STREAM).await {
            Ok(mut stream) => match stream.info().await {
                Ok(info) => return info.state.messages,
                Err(e) => assert!(Instant::now() < deadline, "stream info: {e}"),
            },
            Err(e) => assert!(Instant::now() < deadline, "get stream: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn wait_for<T>(what: &str, timeout_ms: u64, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_millis(timeout_ms);
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "no {what} within {timeout_ms} ms"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether a NATS server at `addr` greets the root namespace within a second.
fn greets(addr: SocketAddr) -> bool {
    use std::io::Read;
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let mut hello = [0u8; 4];
    stream.read_exact(&mut hello).is_ok() && &hello == b"INFO"
}

/// Whether a NATS server at `addr` greets a process on `host` within two seconds.
fn greets_from(host: &Host, addr: SocketAddr) -> bool {
    let script = format!(
        "exec 3<>/dev/tcp/{}/{} && head -c 4 <&3",
        addr.ip(),
        addr.port()
    );
    let output = host
        .command("timeout")
        .args(["2", "bash", "-c", &script])
        .output()
        .unwrap();
    output.stdout == b"INFO"
}

/// `SELECT 1` by `psql` on `host`: its trimmed output, or its standard error.
fn psql_from(host: &Host, url: &str) -> Result<String, String> {
    let output = host
        .command("psql")
        .args([url, "-tAc", "select 1"])
        .output()
        .unwrap();
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_string())
    }
}

/// The command name of process `pid`, if it exists.
fn process_name(pid: u32) -> Option<String> {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some(comm.trim().to_string())
}

/// The named network namespace process `pid` is in (`ip netns identify`).
fn namespace_of(pid: u32) -> String {
    let output = Command::new("ip")
        .args(["netns", "identify", &pid.to_string()])
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}
