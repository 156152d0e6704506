//! Helpers of the `exactly pipe` scenario tests: run the built binary's `pipe recv`,
//! `pipe send` and `pipe dump` over 127.0.0.1, with deadlines so a hang fails instead of
//! blocking the suite.

// Test helpers, not library code: a panic is the failure report. Each test uses a subset.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub fn exe() -> &'static str {
    env!("CARGO_BIN_EXE_exactly")
}

/// A local address nobody listens on yet.
pub fn free_addr() -> String {
    exactly_testkit::cli::free_addr().unwrap()
}

/// A child process killed (SIGKILL) when dropped, so a failing test leaves no orphans.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Proc {
    /// Waits up to `deadline` for the process to exit; `None` if it is still running.
    pub fn wait_until(&mut self, deadline: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + deadline;
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() > end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Everything the process wrote to stderr (call after it exited).
    pub fn stderr(&mut self) -> String {
        let mut err = String::new();
        if let Some(mut pipe) = self.0.stderr.take() {
            pipe.read_to_string(&mut err).unwrap();
        }
        err
    }

    /// Kills the process and waits for it (its locks are released when this returns).
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `pipe recv` on `addr` with state `state` (plus `extra` arguments); stdout
/// discarded, stderr captured.
pub fn spawn_receiver(addr: &str, state: &Path, extra: &[&str]) -> Proc {
    Command::new(exe())
        .args([
            "pipe",
            "recv",
            "--insecure",
            "--listen",
            addr,
            "--quiet",
            "--state",
        ])
        .arg(state)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map(Proc)
        .unwrap()
}

/// Starts `pipe send` of `input` to `addr` with state `state`.
pub fn spawn_sender(addr: &str, state: &Path, input: &Path, extra: &[&str]) -> Proc {
    Command::new(exe())
        .args(["pipe", "send", "--insecure", "--to", addr, "--state"])
        .arg(state)
        .arg("--input")
        .arg(input)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map(Proc)
        .unwrap()
}

/// Runs `pipe send` to completion (at most 60 s); returns its status and stderr.
pub fn run_sender(addr: &str, state: &Path, input: &Path, extra: &[&str]) -> (ExitStatus, String) {
    let mut sender = spawn_sender(addr, state, input, extra);
    let status = sender
        .wait_until(Duration::from_secs(60))
        .expect("pipe send did not finish within 60 s");
    (status, sender.stderr())
}

/// Writes `lines` as an input file, one per line.
pub fn write_lines(path: &Path, lines: &[String]) {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(path, text).unwrap();
}

/// `pipe dump` of `state`: its status, the `msg` of each printed line, and stderr.
pub fn dump(state: &Path) -> (ExitStatus, Vec<serde_json::Value>, String) {
    let out = Command::new(exe())
        .args(["pipe", "dump", "--state"])
        .arg(state)
        .output()
        .unwrap();
    let msgs = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["msg"].clone())
        .collect();
    (
        out.status,
        msgs,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
