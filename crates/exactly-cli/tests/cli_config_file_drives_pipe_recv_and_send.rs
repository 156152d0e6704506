//! The long-running commands read their flags from `--config`: `pipe recv` and `pipe send`
//! take everything (addresses, state directories, pipe, faults, `insecure`, the idle exit)
//! from their tables in one TOML file, the input file is given on the command line, and
//! over a lossy, duplicating loopback every message is printed once, in order.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use exactly_testkit::cli::{free_addr, Proc};
use std::process::{Command, Stdio};
use std::time::Duration;

const MESSAGES: u64 = 200;

#[test]
fn pipe_recv_and_send_take_their_flags_from_the_config_file() {
    let exe = env!("CARGO_BIN_EXE_exactly");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let addr = free_addr().unwrap();
    let seed = exactly_testkit::cli::seed_from_env();
    println!("seed {seed} (EXACTLY_SEED={seed} replays)");
    std::fs::write(
        d.join("exactly.toml"),
        format!(
            "[pipe.recv]\nlisten = \"{addr}\"\nstate = \"recv-state\"\npipe = \"ordered\"\n\
             insecure = true\nidle_exit_ms = 1500\nloss = 0.1\ndup = 0.1\nseed = {}\n\n\
             [pipe.send]\nto = \"{addr}\"\nstate = \"send-state\"\npipe = \"ordered\"\n\
             insecure = true\nloss = 0.1\ndup = 0.1\nseed = {}\n",
            seed / 2,
            seed / 3
        ),
    )
    .unwrap();
    let input: String = (0..MESSAGES).map(|i| format!("{{\"n\":{i}}}\n")).collect();
    std::fs::write(d.join("in.jsonl"), input).unwrap();

    let printed = std::fs::File::create(d.join("printed.jsonl")).unwrap();
    let mut receiver = Proc(
        Command::new(exe)
            .args(["--config", "exactly.toml", "pipe", "recv"])
            .current_dir(d)
            .stdin(Stdio::null())
            .stdout(printed)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let sent = Command::new(exe)
        .args([
            "--config",
            "exactly.toml",
            "pipe",
            "send",
            "--input",
            "in.jsonl",
        ])
        .current_dir(d)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    // The receiver exits by itself 1.5 s after the last frame (idle_exit_ms from the file).
    let status = receiver.wait_until(Duration::from_secs(60)).unwrap();
    let stderr = receiver.stderr().unwrap();
    assert!(
        status.is_some_and(|s| s.success()),
        "receiver: {status:?} {stderr}"
    );

    let printed = std::fs::read_to_string(d.join("printed.jsonl")).unwrap();
    let ns: Vec<u64> = printed
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["msg"]["n"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(
        ns,
        (0..MESSAGES).collect::<Vec<_>>(),
        "each message once, in order"
    );
    assert!(d.join("recv-state").is_dir() && d.join("send-state").is_dir());
}
