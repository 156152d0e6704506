//! `exactly pipe recv` prints each delivered message once as a JSON line
//! (`{"sender","seq","msg"}`) after making it durable, and `pipe dump` prints the same
//! lines from the journal; here over a lossy, duplicating loopback without kills.

// Test helpers, not library code: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::net::UdpSocket;
use std::process::{Command, Stdio};

const MESSAGES: u64 = 300;

#[test]
fn pipe_recv_prints_json_lines() {
    let exe = env!("CARGO_BIN_EXE_exactly");
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let lines: String = (0..MESSAGES)
        .map(|i| format!("{{\"n\":{i}}}\n\n"))
        .collect();
    std::fs::write(&input, lines).unwrap();
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let recv_state = dir.path().join("recv");
    let receiver = Command::new(exe)
        .args([
            "pipe",
            "recv",
            "--insecure",
            "--listen",
            &addr,
            "--pipe",
            "ordered",
            "--idle-exit-ms",
            "1500",
        ])
        .args(["--loss", "0.2", "--dup", "0.2", "--state"])
        .arg(&recv_state)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let sent = Command::new(exe)
        .args([
            "pipe",
            "send",
            "--insecure",
            "--to",
            &addr,
            "--pipe",
            "ordered",
            "--loss",
            "0.2",
            "--dup",
            "0.2",
        ])
        .arg("--state")
        .arg(dir.path().join("send"))
        .arg("--input")
        .arg(&input)
        .output()
        .unwrap();
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let out = receiver.wait_with_output().unwrap();
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap();
    let ns: Vec<u64> = printed
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert!(v["sender"].is_u64() && v["seq"].is_u64(), "{l}");
            assert_eq!(
                v["seq"], v["msg"]["n"],
                "seq n is the n-th non-empty input line"
            );
            v["msg"]["n"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(ns, (0..MESSAGES).collect::<Vec<_>>());
    let dump = Command::new(exe)
        .args(["pipe", "dump", "--state"])
        .arg(&recv_state)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(dump.stdout).unwrap(), printed);
}
