//! Storage-fault sweep of the durable pipe ends: one bit flipped, one sector zeroed or the
//! file truncated at sampled places of every file a sender and a receiver keep in their
//! state directories (journals, and whatever else they write). After each fault:
//! `pipe dump` of the receiver, a restarted receiver, the sender re-run on the same input,
//! and `pipe dump` again must either show every confirmed message exactly once, or refuse
//! with an error naming the damaged file. A message lost or delivered twice with exit 0
//! fails the test.
//!
//! Knobs: `EXACTLY_SEED`, `EXACTLY_FAULT_SAMPLES` (random flips per file, default 1).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::fault_common;

use fault_common::{seed_and_samples, sweep, Judge, EXE};
use std::net::UdpSocket;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const MESSAGES: u64 = 200;
/// A stuck command is killed after this long and counted as a hang (a failure).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

fn free_addr() -> String {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    format!("127.0.0.1:{}", socket.local_addr().unwrap().port())
}

fn receiver(state: &Path, addr: &str) -> Child {
    Command::new(EXE)
        .args([
            "pipe",
            "recv",
            "--insecure",
            "--listen",
            addr,
            "--idle-exit-ms",
            "400",
        ])
        .arg("--state")
        .arg(state)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn sender(state: &Path, addr: &str, input: &Path) -> Child {
    Command::new(EXE)
        .args([
            "pipe",
            "send",
            "--insecure",
            "--to",
            addr,
            "--resend-timeout-ms",
            "5",
        ])
        .arg("--state")
        .arg(state)
        .arg("--input")
        .arg(input)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for `child` at most [`COMMAND_TIMEOUT`]; a hang is a test failure.
fn finish(mut child: Child, what: &str) -> Output {
    let deadline = Instant::now() + COMMAND_TIMEOUT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} hung for {COMMAND_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.wait_with_output().unwrap()
}

fn dump(state: &Path) -> Output {
    Command::new(EXE)
        .args(["pipe", "dump", "--state"])
        .arg(state)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// The `n` of every delivered message in the JSON lines of `dump` or `recv`.
fn delivered(lines: &str) -> Vec<u64> {
    lines
        .lines()
        .filter(|l| l.contains("\"msg\""))
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["msg"]["n"].as_u64().unwrap()
        })
        .collect()
}

fn exactly_once(ns: &[u64]) -> bool {
    let mut sorted = ns.to_vec();
    sorted.sort_unstable();
    sorted == (0..MESSAGES).collect::<Vec<_>>()
}

/// A receiver and a sender that delivered every message of `input`.
fn build(root: &Path, input: &Path) {
    let addr = free_addr();
    let recv = receiver(&root.join("recv"), &addr);
    std::thread::sleep(Duration::from_millis(100));
    let send = finish(sender(&root.join("send"), &addr, input), "sender");
    assert!(
        send.status.success(),
        "{}",
        String::from_utf8_lossy(&send.stderr)
    );
    let recv = finish(recv, "receiver");
    assert!(
        recv.status.success(),
        "{}",
        String::from_utf8_lossy(&recv.stderr)
    );
}

fn judge_fault(root: &Path, file: &Path, input: &Path) -> Judge {
    let mut judge = Judge::new(file);
    let (recv_state, send_state) = (root.join("recv"), root.join("send"));
    if let Some(out) = judge.ran("dump", &dump(&recv_state)) {
        let ns = delivered(&out);
        judge.expect("dump", exactly_once(&ns), || {
            format!("{} messages", ns.len())
        });
    }
    let addr = free_addr();
    let mut recv = receiver(&recv_state, &addr);
    std::thread::sleep(Duration::from_millis(100));
    if recv.try_wait().unwrap().is_some() {
        // The receiver refused to start: a user repairs it before re-running the sender.
        judge.ran("recv restart", &finish(recv, "receiver"));
        return judge;
    }
    let send = finish(sender(&send_state, &addr, input), "sender re-run");
    if judge.ran("send re-run", &send).is_none() {
        // The sender refused: nothing was sent; stop the receiver without judging it.
        let _ = recv.kill();
        let _ = recv.wait();
        return judge;
    }
    let recv = finish(recv, "receiver");
    if let Some(out) = judge.ran("recv restart", &recv) {
        let again = delivered(&out);
        judge.expect("recv restart", again.is_empty(), || {
            format!("delivered {} messages again", again.len())
        });
    }
    if let Some(out) = judge.ran("dump after", &dump(&recv_state)) {
        let ns = delivered(&out);
        judge.expect("dump after", exactly_once(&ns), || {
            format!("{} messages", ns.len())
        });
    }
    judge
}

#[test]
fn every_fault_in_pipe_state_is_repaired_or_refused_never_silent() {
    let (seed, samples, mut rng) = seed_and_samples(1);
    let temp = tempfile::tempdir().unwrap();
    let input = temp.path().join("input.jsonl");
    let lines: String = (0..MESSAGES).map(|n| format!("{{\"n\":{n}}}\n")).collect();
    std::fs::write(&input, lines).unwrap();
    let template = temp.path().join("template");
    build(&template, &input);
    let scratch = temp.path().join("faulted");
    sweep(
        &template,
        &scratch,
        seed,
        samples,
        &mut rng,
        |root, file| judge_fault(root, file, &input),
    );
}
