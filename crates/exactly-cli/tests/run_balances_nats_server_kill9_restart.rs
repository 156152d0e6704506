//! `exactly run balances --follow` on our own single nats-server (`sync_interval: always`)
//! while the server is SIGKILLed and restarted on its port and store three times — down
//! 0.8 s, 0.8 s, then 7 s (past the client's 5 s request timeout) — with new transfers
//! published after each outage. The job process must ride out every outage by itself (a
//! run failed by a timed-out request or a lost connection is started again in-process,
//! `--restart-attempts`): the supervisor watching it must never have to start it again.
//! It is then stopped with SIGKILL and a final run reads to the end of the input, and must
//! succeed at once.
//! The oracle (`nats_run_common`, reading the topics in-process) then finds every balance
//! equal to the input's sums, every transfer applied exactly once, and no duplicate or
//! gap among the outputs' lineage ids.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::nats_run_common;

use nats_run_common::supervised::Supervised;
use nats_run_common::{assert_balances_exactly_once, gen, run_balances, server};
use std::time::Duration;

/// How long each outage lasts.
const OUTAGES: [Duration; 3] = [
    Duration::from_millis(800),
    Duration::from_millis(800),
    Duration::from_secs(7),
];
const INITIAL_TRANSFERS: u64 = 5_000;
const TRANSFERS_PER_OUTAGE: u64 = 2_000;

#[test]
fn balances_survive_the_server_killed_and_restarted_under_them() {
    let temp = tempfile::tempdir().unwrap();
    let Some(mut server) = server(&temp.path().join("nats")) else {
        return;
    };
    let url = server.url();
    gen(&url, INITIAL_TRANSFERS, 1);
    let mut job = Supervised::start(&url, temp.path(), &[]);
    job.watch_for(Duration::from_secs(2));
    for (seed, down) in (2..).zip(OUTAGES) {
        println!("SIGKILL nats-server, down for {down:?}");
        server.kill().unwrap();
        job.watch_for(down);
        server.restart().unwrap();
        server.wait_ready(10_000).unwrap();
        job.watch_for(Duration::from_secs(3));
        gen(&url, TRANSFERS_PER_OUTAGE, seed);
        job.watch_for(Duration::from_secs(1));
    }
    let stderr = job.stderr();
    let restarts = job.stop();
    let in_process = stderr.matches("starting the job again").count();
    println!("runs started again in-process: {in_process}");
    assert_eq!(
        restarts, 0,
        "the job process exited over an outage instead of starting its run again in-process"
    );
    // The 7 s outage outlasts the client's request timeout: some run must have failed.
    assert!(
        in_process > 0,
        "no run failed over a 7 s outage, so restarting was not exercised: {stderr}"
    );
    let last = run_balances(&url, &temp.path().join("state"), 2)
        .output()
        .unwrap();
    assert!(
        last.status.success(),
        "the final run failed: {}",
        String::from_utf8_lossy(&last.stderr)
    );
    let transfers = assert_balances_exactly_once(&url);
    assert_eq!(
        transfers,
        INITIAL_TRANSFERS + TRANSFERS_PER_OUTAGE * OUTAGES.len() as u64
    );
}
