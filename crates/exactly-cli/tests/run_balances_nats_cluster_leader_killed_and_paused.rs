//! `exactly run balances --follow` on a 3-node JetStream cluster, every topic R3, while the
//! servers fail under it: the node leading an output partition is SIGKILLed (and
//! restarted 4 s later), the node leading an input partition is paused with SIGSTOP for
//! 8 s (longer than the client's ping interval and request timeout) and continued, and the
//! node leading the job's journal is SIGKILLed and restarted. New transfers arrive between
//! the faults. The job process must ride out every fault by itself (a run failed by a
//! timed-out request or a moved leader is started again in-process,
//! `--restart-attempts`): the supervisor watching it must never have to start it again. It
//! is then stopped with SIGKILL and a final run reads to the end of the input. The oracle (`nats_run_common`, reading the topics
//! in-process) then finds every balance equal to the input's sums, every transfer applied
//! exactly once, and no duplicate or gap among the outputs' lineage ids.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::nats_run_common;

use exactly_nats::server::NatsCluster;
use exactly_nats::{ClientOptions, NatsLog, TopicOptions};
use nats_run_common::supervised::Supervised;
use nats_run_common::{assert_balances_exactly_once, cluster, exactly, run_balances};
use std::path::Path;
use std::time::{Duration, Instant};

/// How long the cluster may take to elect leaders or serve again after a fault.
const SETTLE_MAX: Duration = Duration::from_secs(45);

#[test]
fn balances_on_a_cluster_survive_leaders_killed_and_paused() {
    let temp = tempfile::tempdir().unwrap();
    let Some(mut cluster) = cluster(&temp.path().join("nats")) else {
        return;
    };
    let url = cluster.url();
    let log = NatsLog::connect_with(&url, client_options()).unwrap();
    create_input(&log);
    let mut fed = gen(&url, 6_000, 1);
    let mut job = Supervised::start(&url, temp.path(), &["--replicas", "3"]);
    job.watch_for(Duration::from_secs(2));

    let output = open_retrying(&log, "balances");
    let leader = node_leading(&log, &output, 0);
    println!("SIGKILL n{leader} (leads balances/0)");
    cluster.nodes[leader].kill().unwrap();
    job.watch_for(Duration::from_secs(4));
    cluster.nodes[leader].restart().unwrap();
    job.watch_for(Duration::from_secs(3));
    fed += gen(&url, 2_000, 2);

    let input = open_retrying(&log, "transfers");
    let leader = node_leading(&log, &input, 1);
    println!("SIGSTOP n{leader} (leads transfers/1) for 8 s");
    cluster.nodes[leader].pause().unwrap();
    job.watch_for(Duration::from_secs(8));
    cluster.nodes[leader].resume().unwrap();
    job.watch_for(Duration::from_secs(3));
    fed += gen(&url, 2_000, 3);

    let journal = open_retrying(&log, &exactly_engine::journal_topic("balances"));
    let leader = node_leading(&log, &journal, 0);
    println!("SIGKILL n{leader} (leads the journal)");
    cluster.nodes[leader].kill().unwrap();
    job.watch_for(Duration::from_secs(4));
    cluster.nodes[leader].restart().unwrap();
    job.watch_for(Duration::from_secs(3));

    let stderr = job.stderr();
    let restarts = job.stop();
    let in_process = stderr.matches("starting the job again").count();
    println!("runs started again in-process: {in_process}");
    assert_eq!(
        restarts, 0,
        "the job process exited over a fault instead of starting its run again in-process"
    );
    final_run(&url, temp.path(), &cluster);
    let transfers = assert_balances_exactly_once(&url);
    assert!(
        transfers >= fed,
        "{transfers} transfers read, {fed} generated"
    );
}

/// Client options of the test's own reads: short requests, retried by the callers.
fn client_options() -> ClientOptions {
    ClientOptions {
        request_timeout_ms: 3_000,
        ..ClientOptions::default()
    }
}

/// Creates `transfers` (4 partitions, R3), retrying while JetStream elects its first
/// meta leader.
fn create_input(log: &NatsLog) {
    let r3 = TopicOptions {
        replicas: 3,
        ..TopicOptions::default()
    };
    retry("creating transfers", || {
        log.create_topic("transfers", 4, r3.clone())
    });
}

/// `exactly gen transfers` of `count` more transfers (the topic exists, R3); a run that
/// fails part-way is repeated (ids continue after what was stored, so the input only
/// grows). Returns the transfers asked for.
fn gen(url: &str, count: u64, seed: u64) -> u64 {
    let started = Instant::now();
    loop {
        let output = exactly(&[
            "gen",
            "transfers",
            "--log",
            url,
            "--topic",
            "transfers",
            "--partitions",
            "4",
            "--replicas",
            "3",
            "--accounts",
            "300",
            "--count",
            &count.to_string(),
            "--seed",
            &seed.to_string(),
        ])
        .output()
        .unwrap();
        if output.status.success() {
            return count;
        }
        let error = String::from_utf8_lossy(&output.stderr);
        assert!(started.elapsed() < SETTLE_MAX, "gen keeps failing: {error}");
        eprintln!("gen failed, again in 1 s: {error}");
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// `topic` once the cluster serves it (it may be electing leaders).
fn open_retrying(log: &NatsLog, topic: &str) -> exactly_nats::Topic {
    retry(&format!("opening {topic}"), || log.open_topic(topic))
}

/// The index of the node leading `partition` of `topic` now.
fn node_leading(log: &NatsLog, topic: &exactly_nats::Topic, partition: u32) -> usize {
    let name = retry(
        &format!("the leader of {}/{partition}", topic.name()),
        || match log.partition_leader(topic, partition) {
            Ok(Some(name)) => Ok(name),
            Ok(None) => Err("no leader elected".to_string()),
            Err(error) => Err(error.to_string()),
        },
    );
    name.strip_prefix('n')
        .and_then(|index| index.parse().ok())
        .unwrap_or_else(|| panic!("leader {name:?} is not one of n0, n1, n2"))
}

/// `attempt()` until it succeeds, for at most [`SETTLE_MAX`].
fn retry<T, E: std::fmt::Display>(what: &str, mut attempt: impl FnMut() -> Result<T, E>) -> T {
    let started = Instant::now();
    loop {
        match attempt() {
            Ok(value) => return value,
            Err(error) => {
                assert!(started.elapsed() < SETTLE_MAX, "{what}: {error}");
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    }
}

/// The last run, to the end of the input: after the faults the cluster may still move
/// leaders for a while, so a failed run is repeated within [`SETTLE_MAX`].
fn final_run(url: &str, dir: &Path, cluster: &NatsCluster) {
    assert_eq!(
        cluster.nodes.iter().filter(|n| n.pid().is_some()).count(),
        3
    );
    let started = Instant::now();
    loop {
        let output = run_balances(url, &dir.join("state"), 2)
            .args(["--replicas", "3"])
            .output()
            .unwrap();
        if output.status.success() {
            return;
        }
        let error = String::from_utf8_lossy(&output.stderr);
        assert!(
            started.elapsed() < SETTLE_MAX,
            "the final run keeps failing: {error}"
        );
        eprintln!("final run failed, again in 1 s: {error}");
        std::thread::sleep(Duration::from_secs(1));
    }
}
