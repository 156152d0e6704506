//! A zombie on NATS: instance A of `exactly run balances --log nats://… --follow
//! --checkpoints postgres://…` is paused with SIGSTOP after a few checkpoints; more
//! transfers arrive; instance B (another state directory: another machine) takes the job
//! over — it claims a higher epoch, recovers from the checkpoint A left in PostgreSQL,
//! and runs to the end of the input. Then A is resumed with SIGCONT: it must stop with
//! an error naming the fence (its checkpoint commit, or its publish, refused), and must
//! not have written anything after B: the output, audit and journal streams end where B
//! left them. The oracle then finds exact balances, every transfer applied once and no
//! duplicate or gap among lineage ids.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::nats_run_common;
use crate::pg_common;

use exactly_nats::NatsLog;
use nats_run_common::{assert_balances_exactly_once, gen, run_balances, server};
use pg_common::pg_url;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn with_pg(mut command: Command, url: &str, schema: &str) -> Command {
    command.args(["--checkpoints", url, "--checkpoint-schema", schema]);
    command
}

/// Last sequence of every partition of each topic.
fn ends(url: &str, topics: &[&str]) -> Vec<(String, u32, u64)> {
    let log = NatsLog::connect(url).unwrap();
    let mut out = Vec::new();
    for topic in topics {
        let open = log.open_topic(topic).unwrap();
        for partition in 0..open.partitions() {
            let last = log.partition_state(&open, partition).unwrap().last_seq;
            out.push((topic.to_string(), partition, last));
        }
    }
    out
}

fn signal(pid: u32, signal: &str) {
    let sent = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill {signal} {pid}");
}

#[test]
fn a_paused_instance_resumed_after_a_takeover_is_fenced_and_writes_nothing() {
    let temp = tempfile::tempdir().unwrap();
    let Some(server) = server(&temp.path().join("nats")) else {
        return;
    };
    let url = server.url();
    let pg = pg_url();
    let schema = format!("t_nats_zombie_{}", std::process::id());
    gen(&url, 20_000, 1);
    let dir_a = temp.path().join("a");
    let stderr_a = temp.path().join("a.stderr");
    let mut a = with_pg(run_balances(&url, &dir_a, 2), &pg, &schema)
        .arg("--follow")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_a).unwrap())
        .spawn()
        .unwrap();
    let status_file = dir_a.join(".jobs").join("balances").join("status.json");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut transfers = 20_000;
    loop {
        // More input while A runs: an idle follower writes no checkpoints.
        gen(&url, 1_000, 100 + transfers);
        transfers += 1_000;
        let checkpoint = std::fs::read(&status_file)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v["checkpoint_id"].as_u64());
        if checkpoint.is_some_and(|id| id >= 3) {
            break;
        }
        assert!(a.try_wait().unwrap().is_none(), "A ended early");
        assert!(Instant::now() < deadline, "A wrote no checkpoints in 60 s");
    }
    signal(a.id(), "-STOP");

    gen(&url, 5_000, 2);
    transfers += 5_000;
    let b = with_pg(run_balances(&url, &temp.path().join("b"), 1), &pg, &schema)
        .output()
        .unwrap();
    assert!(
        b.status.success(),
        "B failed: {}",
        String::from_utf8_lossy(&b.stderr)
    );
    let topics = ["balances", "applied", "exactly.job.balances"];
    let after_b = ends(&url, &topics);

    signal(a.id(), "-CONT");
    let deadline = Instant::now() + Duration::from_secs(60);
    let exit = loop {
        if let Some(exit) = a.try_wait().unwrap() {
            break exit;
        }
        if Instant::now() > deadline {
            a.kill().unwrap();
            panic!("the resumed zombie did not stop within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let message = std::fs::read_to_string(&stderr_a).unwrap();
    println!("zombie: {exit}: {message}");
    assert!(!exit.success(), "the zombie ended successfully");
    assert!(
        message.to_lowercase().contains("fenced"),
        "the zombie's error does not name the fence: {message}"
    );
    assert_eq!(
        ends(&url, &topics),
        after_b,
        "the zombie wrote after the takeover"
    );
    assert_eq!(assert_balances_exactly_once(&url), transfers);
    // The schema is this test's own: leave the database as it was.
    let mut client = postgres::Client::connect(&pg, postgres::NoTls).unwrap();
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .unwrap();
}
