//! Regression: `exactly log describe | head -1` panicked with a backtrace ("failed printing
//! to stdout: Broken pipe") once `head` closed the pipe. A reader that stops early must end
//! the command quietly, as it does every Unix tool (SIGPIPE).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

const EXE: &str = env!("CARGO_BIN_EXE_exactly");

#[test]
fn a_closed_stdout_ends_the_command_without_a_panic() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("log");
    let gen = Command::new(EXE)
        .args([
            "gen",
            "transfers",
            "--topic",
            "t",
            "--count",
            "200000",
            "--dir",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(gen.status.success());
    let mut child = Command::new(EXE)
        .args(["log", "consume", "--topic", "t", "--dir"])
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("\"offset\""), "{first}");
    // The reader is gone (like `head -1` exiting): the pipe is closed.
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(libc_sigpipe()),
        "{status:?}: {stderr}"
    );
}

/// SIGPIPE's number on Linux.
fn libc_sigpipe() -> i32 {
    13
}
