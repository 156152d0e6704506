//! The chaos test on real hosts: network namespaces on one bridge — a 3-node JetStream
//! cluster on hosts 0–2 (R3 streams), workers on hosts 3–6, PostgreSQL reached through a
//! forwarder on the gateway — running the distributed `balances-by-branch` job over
//! `EXACTLY_CHAOS_TRANSFERS` transfers (default 2 000 000, published before the workers
//! start) while, in an order drawn from the seed (`EXACTLY_SEED` replays it):
//! - a random worker is SIGKILLed and started again, ≥ 20 times (`EXACTLY_CHAOS_KILLS`);
//! - a worker is frozen with SIGSTOP for 8 s (longer than its 6 s leases) and resumed;
//! - a worker host's link is cut for 8 s and restored;
//! - the JetStream meta leader is SIGKILLed and restarted on its store;
//! - a 4th worker joins, and later one worker is removed for good.
//!
//! Afterwards the oracle (`worker_common`) finds the branch totals equal to the sums the
//! test computes from the input, every transfer applied once (R = UR = 1 from the route
//! stage's audit), every hop exactly once, epochs never going back along any stream, and
//! every task's epochs granted once each (the lease history). It prints one line per
//! fault type and the job's throughput timeline.
//!
//! Needs root and the pinned nats-server (`. .ci/setup-nats`); fails, never skips.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::nats_run_common;
use crate::pg_common;
use crate::worker_common;

use exactly_nats::{NatsLog, TopicOptions};
use exactly_testkit::{Host, Hosts, NetnsNatsCluster, TcpForwarder};
use nats_run_common::{exactly, EXE};
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use worker_common::{
    assert_by_branch_exactly_once, assert_lease_history, reference_balances, reference_totals,
    status, submit_by_branch, wait_for_totals, Schema,
};

const PREFIX: &str = "exchaos";
/// Not the testkit's default network: its own netns test may run beside this one.
const NETWORK: [u8; 3] = [10, 232, 0];
const NATS_HOSTS: usize = 3;
const WORKER_HOSTS: usize = 4;
const JOB: &str = "bank";
const STARTUP_MS: u64 = 30_000;

/// One fault of the schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Fault {
    Kill,
    Pause,
    Cut,
    NatsLeaderKill,
    AddWorker,
    RemoveWorker,
}

/// The workers: a slot per worker host, `None` when nothing runs there.
struct Workers<'a> {
    hosts: &'a [Host],
    pg: String,
    schema: String,
    nats: String,
    logs: PathBuf,
    running: Vec<Option<Child>>,
    started: u32,
}

impl Workers<'_> {
    fn start(&mut self, slot: usize) {
        self.started += 1;
        let log = std::fs::File::create(
            self.logs
                .join(format!("worker-{slot}-{}.log", self.started)),
        )
        .unwrap();
        let child = self.hosts[slot]
            .command(EXE)
            .args([
                "worker",
                "--cluster",
                &self.pg,
                "--schema",
                &self.schema,
                "--log",
                &self.nats,
            ])
            .args(["--replicas", "3", "--state-dir"])
            .arg(self.logs.join(format!("state-{slot}")))
            .env("RUST_LOG", "exactly_worker=info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.running[slot] = Some(child);
    }

    fn kill(&mut self, slot: usize) {
        if let Some(mut child) = self.running[slot].take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    fn live_slots(&self) -> Vec<usize> {
        (0..self.running.len())
            .filter(|s| self.running[*s].is_some())
            .collect()
    }

    fn pid(&self, slot: usize) -> String {
        self.running[slot].as_ref().unwrap().id().to_string()
    }
}

impl Drop for Workers<'_> {
    fn drop(&mut self) {
        for slot in 0..self.running.len() {
            self.kill(slot);
        }
    }
}

#[test]
fn the_job_stays_exactly_once_through_kills_pauses_cuts_leader_loss_and_rescaling() {
    let transfers: u64 = knob("EXACTLY_CHAOS_TRANSFERS", 2_000_000);
    let kills: u32 = knob("EXACTLY_CHAOS_KILLS", 20);
    let seed: u64 =
        std::env::var("EXACTLY_SEED").map_or_else(|_| rand::random(), |v| v.parse().unwrap());
    println!("seed {seed} (EXACTLY_SEED={seed} replays the schedule), {transfers} transfers, {kills} kills");
    let mut rng = SmallRng::seed_from_u64(seed);

    let hosts = Hosts::create_on(PREFIX, NATS_HOSTS + WORKER_HOSTS, NETWORK)
        .expect("creating network namespaces (needs root)");
    let temp = tempfile::tempdir().unwrap();
    let mut cluster =
        NetnsNatsCluster::start(&hosts.hosts()[..NATS_HOSTS], &temp.path().join("nats")).unwrap();
    cluster.wait_ready(STARTUP_MS).unwrap();
    wait_for_meta_leader(&cluster);
    let forwarder = TcpForwarder::start(
        SocketAddr::new(hosts.gateway().into(), 0),
        "127.0.0.1:5432".parse().unwrap(),
    )
    .unwrap();
    let local_pg = pg_common::pg_url();
    let schema = Schema::new(&local_pg, "worker_chaos");
    let pg = format!("postgres://postgres@{}/test", forwarder.local_addr());
    let nats = cluster.url();

    let log = connect_when_ready(&nats);
    let replicated = TopicOptions {
        replicas: 3,
        ..TopicOptions::default()
    };
    // A cluster that has just elected its meta leader may still time out its first API
    // requests on a loaded machine: retried for up to STARTUP_MS.
    let deadline = Instant::now() + Duration::from_millis(STARTUP_MS);
    while let Err(error) = log.create_topic("transfers", 4, replicated.clone()) {
        assert!(
            Instant::now() < deadline,
            "creating the input topic: {error}"
        );
        eprintln!("creating the input topic: {error}; trying again");
        std::thread::sleep(Duration::from_millis(500));
    }
    submit_by_branch(&local_pg, &schema.name, &nats, JOB, 4, 500);
    // The input is published before the workers start: `gen` is not resumable, and a
    // publish timing out under the faults' load would fail the test for nothing.
    let started = Instant::now();
    generate(&nats, transfers, seed);
    println!(
        "{transfers} transfers published (R3) in {:?}",
        started.elapsed()
    );

    let logs = temp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let mut workers = Workers {
        hosts: &hosts.hosts()[NATS_HOSTS..],
        pg,
        schema: schema.name.clone(),
        nats: nats.clone(),
        logs: logs.clone(),
        running: (0..WORKER_HOSTS).map(|_| None).collect(),
        started: 0,
    };
    for slot in 0..3 {
        workers.start(slot);
    }
    let timeline = Timeline::start(&local_pg, &schema.name, &nats);

    let mut schedule = vec![Fault::Kill; kills as usize];
    schedule.extend([
        Fault::Pause,
        Fault::Cut,
        Fault::NatsLeaderKill,
        Fault::AddWorker,
        Fault::RemoveWorker,
    ]);
    schedule.shuffle(&mut rng);
    // The rescaling pair in order: join first, then remove.
    let add = schedule
        .iter()
        .position(|f| *f == Fault::AddWorker)
        .unwrap();
    let remove = schedule
        .iter()
        .position(|f| *f == Fault::RemoveWorker)
        .unwrap();
    if remove < add {
        schedule.swap(add, remove);
    }
    let mut summary: BTreeMap<Fault, Vec<String>> = BTreeMap::new();
    for fault in schedule {
        std::thread::sleep(Duration::from_millis(rng.random_range(1_500..3_000)));
        let note = inject(fault, &mut workers, &mut cluster, &mut rng);
        println!(
            "t={:>5.1}s {fault:?}: {note}",
            started.elapsed().as_secs_f64()
        );
        summary.entry(fault).or_default().push(note);
    }
    println!("faults done at t={:.1}s", started.elapsed().as_secs_f64());

    let (balances, counted) = reference_balances(&log);
    assert_eq!(counted, transfers);
    let waited = wait_for_totals(&log, &reference_totals(&balances), Duration::from_secs(900));
    println!("output exact {waited:?} after the last fault");
    std::thread::sleep(Duration::from_secs(2));
    let view = status(&local_pg, &schema.name, &nats, JOB);
    drop(workers);
    for (t, consumed) in timeline.stop() {
        println!("timeline t={t:>5.1}s consumed {consumed}");
    }
    for (fault, notes) in &summary {
        println!("{fault:?}: {} time(s): {}", notes.len(), notes.join("; "));
    }
    assert_by_branch_exactly_once(&log, JOB, 4, 4);
    let takeovers = assert_lease_history(&local_pg, &schema.name, JOB);
    println!("{takeovers} takeovers in the lease history");
    assert_eq!(view["lag_records"], 0, "lag at the end: {view}");
    drop(forwarder);
}

/// Performs `fault`; returns what was done.
fn inject(
    fault: Fault,
    workers: &mut Workers<'_>,
    cluster: &mut NetnsNatsCluster,
    rng: &mut SmallRng,
) -> String {
    let live = workers.live_slots();
    let slot = live[rng.random_range(0..live.len())];
    match fault {
        Fault::Kill => {
            workers.kill(slot);
            std::thread::sleep(Duration::from_millis(rng.random_range(200..1_000)));
            workers.start(slot);
            format!("worker {slot} killed and restarted")
        }
        Fault::Pause => {
            let pid = workers.pid(slot);
            signal("-STOP", &pid);
            std::thread::sleep(Duration::from_secs(8));
            signal("-CONT", &pid);
            format!("worker {slot} frozen 8 s")
        }
        Fault::Cut => {
            let host = &workers.hosts[slot];
            host.link_down().unwrap();
            std::thread::sleep(Duration::from_secs(8));
            host.link_up().unwrap();
            format!("worker {slot}'s link cut 8 s")
        }
        Fault::NatsLeaderKill => {
            let leader = cluster.meta_leader().expect("a meta leader");
            cluster.kill(leader).unwrap();
            std::thread::sleep(Duration::from_secs(2));
            cluster.restart(leader).unwrap();
            cluster.wait_node_ready(leader, STARTUP_MS).unwrap();
            let new_leader = wait_for_meta_leader(cluster);
            format!("meta leader n{leader} killed, restarted after 2 s; leader now n{new_leader}")
        }
        Fault::AddWorker => {
            let free = (0..WORKER_HOSTS)
                .find(|s| workers.running[*s].is_none())
                .unwrap();
            workers.start(free);
            format!("worker {free} joined")
        }
        Fault::RemoveWorker => {
            workers.kill(slot);
            format!("worker {slot} removed")
        }
    }
}

/// JetStream answers API requests only once the cluster has elected a meta leader.
fn wait_for_meta_leader(cluster: &NetnsNatsCluster) -> usize {
    let deadline = Instant::now() + Duration::from_millis(STARTUP_MS);
    loop {
        if let Some(leader) = cluster.meta_leader() {
            return leader;
        }
        assert!(
            Instant::now() < deadline,
            "no meta leader within {STARTUP_MS} ms"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn signal(name: &str, pid: &str) {
    let status = std::process::Command::new("kill")
        .args([name, pid])
        .status()
        .unwrap();
    assert!(status.success(), "kill {name} {pid}");
}

fn knob<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} does not parse")),
        Err(_) => default,
    }
}

fn connect_when_ready(nats: &str) -> NatsLog {
    let deadline = Instant::now() + Duration::from_millis(STARTUP_MS);
    loop {
        match NatsLog::connect(nats) {
            Ok(log) => return log,
            Err(error) if Instant::now() < deadline => {
                eprintln!("waiting for the cluster: {error}");
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(error) => panic!("cluster at {nats}: {error}"),
        }
    }
}

/// Publishes `count` transfers between 1 000 accounts to `transfers`, in chunks.
fn generate(nats: &str, count: u64, seed: u64) {
    let status = exactly(&[
        "gen",
        "transfers",
        "--log",
        nats,
        "--topic",
        "transfers",
        "--partitions",
        "4",
        "--accounts",
        "1000",
        "--count",
        &count.to_string(),
        "--seed",
        &seed.to_string(),
    ])
    .stdout(Stdio::null())
    .status()
    .unwrap();
    assert!(status.success(), "gen failed");
}

/// The input consumed over time: every 3 s, the transfers the route tasks' checkpoints
/// have read — the input published so far minus their lag, from `job status`.
struct Timeline {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<Vec<(f64, u64)>>,
}

impl Timeline {
    fn start(pg: &str, schema: &str, nats: &str) -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (pg, schema, nats, flag) = (
            pg.to_string(),
            schema.to_string(),
            nats.to_string(),
            stop.clone(),
        );
        let thread = std::thread::spawn(move || {
            let log = connect_when_ready(&nats);
            let started = Instant::now();
            let mut points = Vec::new();
            while !flag.load(std::sync::atomic::Ordering::SeqCst) {
                let Some(published) = published(&log) else {
                    std::thread::sleep(Duration::from_secs(1));
                    continue;
                };
                let view = status(&pg, &schema, &nats, JOB);
                let route_lag: Option<u64> = (view["tasks"].as_array().unwrap().iter())
                    .filter(|t| t["stage"] == "route")
                    .map(|t| t["lag_records"].as_u64())
                    .sum();
                if let Some(lag) = route_lag {
                    points.push((
                        started.elapsed().as_secs_f64(),
                        published.saturating_sub(lag),
                    ));
                }
                std::thread::sleep(Duration::from_secs(3));
            }
            points
        });
        Self { stop, thread }
    }

    fn stop(self) -> Vec<(f64, u64)> {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        self.thread.join().unwrap()
    }
}

/// Transfers in the input now; `None` while the cluster does not answer (a node being
/// killed): the timeline skips that sample.
fn published(log: &NatsLog) -> Option<u64> {
    let topic = log.open_topic("transfers").ok()?;
    (0..topic.partitions())
        .map(|p| log.partition_state(&topic, p).ok().map(|s| s.last_seq))
        .sum()
}
