//! Shared driver of the `exactly pipe` kill -9 scenarios: a sender and a receiver process
//! over UDP on 127.0.0.1 with injected loss and duplication, each killed with SIGKILL and
//! restarted from its state directory several times.

// Test helpers, not library code: a panic is the failure report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use exactly_testkit::cli::Proc;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const MESSAGES: usize = 8_000;

fn exe() -> &'static str {
    env!("CARGO_BIN_EXE_exactly")
}

/// How many kills: `EXACTLY_KILLS`, default 12.
pub fn kills() -> usize {
    exactly_testkit::cli::env_or("EXACTLY_KILLS", 12)
}

fn free_port() -> u16 {
    exactly_testkit::cli::free_port().unwrap()
}

struct Ends {
    pipe: &'static str,
    /// Security arguments of `pipe recv` and `pipe send`.
    recv_keys: Vec<String>,
    send_keys: Vec<String>,
    addr: String,
    dir: PathBuf,
    input: PathBuf,
}

impl Ends {
    fn spawn_receiver(&self) -> Proc {
        Command::new(exe())
            .args([
                "pipe", "recv", "--listen", &self.addr, "--pipe", self.pipe, "--quiet",
            ])
            .args(["--loss", "0.2", "--dup", "0.1"])
            .args(&self.recv_keys)
            .arg("--state")
            .arg(self.dir.join("recv"))
            .stdout(Stdio::null())
            .spawn()
            .map(Proc)
            .unwrap()
    }

    fn spawn_sender(&self) -> Proc {
        Command::new(exe())
            .args(["pipe", "send", "--to", &self.addr, "--pipe", self.pipe])
            .args([
                "--loss",
                "0.2",
                "--dup",
                "0.1",
                "--rate",
                "3000",
                "--resend-timeout-ms",
                "5",
            ])
            .args(&self.send_keys)
            .arg("--state")
            .arg(self.dir.join("send"))
            .arg("--input")
            .arg(&self.input)
            .stderr(Stdio::piped())
            .spawn()
            .map(Proc)
            .unwrap()
    }
}

fn write_input(path: &Path) {
    let lines: String = (0..MESSAGES)
        .map(|i| format!("{{\"n\":{i},\"body\":\"message {i}\"}}\n"))
        .collect();
    std::fs::write(path, lines).unwrap();
}

/// Runs the scenario over plaintext (`--insecure`) and returns the `n` of every message
/// the receiver delivered, in delivery order (read back with `exactly pipe dump`).
#[allow(dead_code)] // not every scenario binary uses both entry points
pub fn run_with_kills(pipe: &'static str) -> Vec<u64> {
    let insecure = vec!["--insecure".to_owned()];
    run_with_kills_keyed(pipe, insecure.clone(), insecure)
}

/// [`run_with_kills`] with the given security arguments of `pipe recv` and `pipe send`.
pub fn run_with_kills_keyed(
    pipe: &'static str,
    recv_keys: Vec<String>,
    send_keys: Vec<String>,
) -> Vec<u64> {
    let dir = tempfile::tempdir().unwrap();
    let ends = Ends {
        pipe,
        recv_keys,
        send_keys,
        addr: format!("127.0.0.1:{}", free_port()),
        dir: dir.path().to_owned(),
        input: dir.path().join("input.jsonl"),
    };
    write_input(&ends.input);
    let mut receiver = ends.spawn_receiver();
    let mut sender = Some(ends.spawn_sender());
    let seed = exactly_testkit::cli::seed_from_env();
    eprintln!("kill schedule seed {seed} ({} kills)", kills());
    for k in 0..kills() {
        // A pseudo-random pause from the seed, so a failing schedule can be told apart.
        let pause_ms = 80 + (seed.rotate_left(k as u32 * 7) % 220);
        std::thread::sleep(Duration::from_millis(pause_ms));
        let sender_alive = sender
            .as_mut()
            .is_some_and(|s| s.0.try_wait().unwrap().is_none());
        if k % 2 == 0 && sender_alive {
            drop(sender.take()); // SIGKILL
            sender = Some(ends.spawn_sender());
        } else {
            drop(receiver); // SIGKILL
            receiver = ends.spawn_receiver();
        }
    }
    let mut sender = sender.unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = sender.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "sender did not finish; seed {seed}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    use std::io::Read;
    sender
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "sender failed: {err}; seed {seed}");
    drop(receiver);
    let dump = Command::new(exe())
        .args(["pipe", "dump", "--state"])
        .arg(dir.path().join("recv"))
        .output()
        .unwrap();
    assert!(dump.status.success());
    String::from_utf8(dump.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["msg"]["n"].as_u64().unwrap()
        })
        .collect()
}
