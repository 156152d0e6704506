//! Three `exactly worker` processes share the distributed `balances-by-branch` job
//! (route → accounts → branches, 4 input partitions, 4 key groups: 12 tasks) on our own
//! nats-server and the local PostgreSQL. While more transfers arrive, a random worker is
//! killed with SIGKILL every 1.5–3 s and started again as a new incarnation (≥ 8 kills;
//! `EXACTLY_WORKER_KILLS` for more; the seed is printed and `EXACTLY_SEED` replays the
//! schedule). Its tasks move to the others once their leases expire, each restoring its
//! last checkpoint and fencing the dead incarnation's outputs by its higher epoch. Midway
//! one worker is frozen with SIGSTOP for 8 s — longer than its 6 s leases — and resumed:
//! a zombie whose stale commits and publishes the lease epochs must refuse.
//! Afterwards the oracle (`worker_common`) finds every hop exactly once and the branch
//! totals equal to what the test computes from the input; `job status` shows every task
//! owned by a live worker with a checkpoint and no lag.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::nats_run_common;
use crate::pg_common;
use crate::worker_common;

use nats_run_common::{gen, server};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::time::{Duration, Instant};
use worker_common::{
    assert_by_branch_exactly_once, assert_lease_history, cluster_status, reference_balances,
    reference_totals, spawn_worker, status, submit_by_branch, wait_for_totals, Schema,
};

const WORKERS: usize = 3;

/// Freezes `worker` for `how_long` (SIGSTOP … SIGCONT) while transfers keep arriving.
fn pause(worker: &std::process::Child, how_long: Duration) {
    let pid = worker.id().to_string();
    let signal = |name: &str| {
        let status = std::process::Command::new("kill")
            .args([name, &pid])
            .status()
            .unwrap();
        assert!(status.success(), "kill {name} {pid}");
    };
    signal("-STOP");
    std::thread::sleep(how_long);
    signal("-CONT");
}

#[test]
fn workers_killed_with_sigkill_keep_the_job_exactly_once() {
    let temp = tempfile::tempdir().unwrap();
    let Some(server) = server(&temp.path().join("nats")) else {
        return;
    };
    let nats = server.url();
    let schema = Schema::new(&pg_common::pg_url(), "worker_kill9");
    let (pg, name) = (schema.url.clone(), schema.name.clone());
    let kills: u32 = std::env::var("EXACTLY_WORKER_KILLS").map_or(8, |v| v.parse().unwrap());
    let seed: u64 =
        std::env::var("EXACTLY_SEED").map_or_else(|_| rand::random(), |v| v.parse().unwrap());
    println!("seed {seed} (EXACTLY_SEED={seed} replays the kill schedule), {kills} kills");
    let mut rng = SmallRng::seed_from_u64(seed);

    gen(&nats, 20_000, seed);
    submit_by_branch(&pg, &name, &nats, "bank", 4, 200);
    let state = |i: usize| temp.path().join(format!("worker-{i}"));
    let mut workers: Vec<_> = (0..WORKERS)
        .map(|i| spawn_worker(&pg, &name, &nats, &state(i)))
        .collect();
    for kill in 0..kills {
        if kill == kills / 2 {
            let zombie = rng.random_range(0..WORKERS);
            pause(&workers[zombie], Duration::from_secs(8));
        }
        std::thread::sleep(Duration::from_millis(rng.random_range(1_500..3_000)));
        gen(&nats, 2_000, seed.wrapping_add(u64::from(kill) + 1));
        let victim = rng.random_range(0..WORKERS);
        workers[victim].kill().unwrap();
        workers[victim].wait().unwrap();
        std::thread::sleep(Duration::from_millis(rng.random_range(100..1_000)));
        workers[victim] = spawn_worker(&pg, &name, &nats, &state(victim));
    }
    let log = exactly_nats::NatsLog::connect(&nats).unwrap();
    let (balances, transfers) = reference_balances(&log);
    let started = Instant::now();
    let waited = wait_for_totals(&log, &reference_totals(&balances), Duration::from_secs(180));
    println!("{transfers} transfers; output exact {waited:?} after the last kill");
    // Let anything still in flight land, then judge everything from the topics.
    std::thread::sleep(Duration::from_secs(2));
    let view = status(&pg, &name, &nats, "bank");
    let cluster = cluster_status(&pg, &name, &nats);
    for mut worker in workers {
        worker.kill().unwrap();
        worker.wait().unwrap();
    }
    assert_by_branch_exactly_once(&log, "bank", 4, 4);
    let takeovers = assert_lease_history(&pg, &name, "bank");
    println!("{takeovers} takeovers in the lease history");
    assert!(
        takeovers > 0,
        "no task ever changed owner: the kills missed"
    );
    let tasks = view["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 12);
    for task in tasks {
        assert!(
            task["live"].as_bool().unwrap(),
            "task not owned at the end: {task}"
        );
        assert!(
            !task["checkpoint"].is_null(),
            "task without a checkpoint: {task}"
        );
    }
    assert_eq!(view["lag_records"], 0, "lag at the end: {view}");
    let job = &cluster[0];
    assert_eq!(
        (job["job"].as_str(), job["tasks_owned"].as_u64()),
        (Some("bank"), Some(12)),
        "{job}"
    );
    assert_eq!(
        job["takeovers"].as_u64(),
        Some(takeovers),
        "cluster status vs the lease history"
    );
    // A killed incarnation stays a member until its 4 s membership lease runs out.
    let members = cluster[1]["workers"].as_array().map_or(0, Vec::len);
    assert!(members >= WORKERS, "{cluster:?}");
    assert!(started.elapsed() < Duration::from_secs(200));
}
