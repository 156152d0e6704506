//! `exactly log` on bad input: clear errors that name the line, the topic or the flag,
//! non-zero exits, and nothing already appended is lost. Also: a second process on the
//! same directory is refused, and `verify` fails loudly on a damaged segment.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const EXE: &str = env!("CARGO_BIN_EXE_exactly");

fn run(args: &[&str], dir: &Path, stdin: &str) -> Output {
    let mut child = Command::new(EXE)
        .args(args)
        .arg("--dir")
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A command refused before it reads its input (a second process on the log) exits
    // and closes the pipe: a broken pipe here is that refusal, judged by the exit status.
    match child.stdin.take().unwrap().write_all(stdin.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        result => result.unwrap(),
    }
    child.wait_with_output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn consume_values(dir: &Path) -> Vec<String> {
    let output = run(&["log", "consume", "--topic", "t"], dir, "");
    assert!(output.status.success(), "{}", stderr(&output));
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["value"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[test]
fn bad_input_is_refused_clearly_and_loses_nothing() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("log");
    assert!(run(&["log", "create", "--topic", "t"], &dir, "")
        .status
        .success());

    let input = "{\"value\":\"a\"}\n{\"value\":\"b\"}\nnot json\n{\"value\":\"c\"}\n";
    let output = run(
        &["log", "produce", "--topic", "t", "--producer-id", "1"],
        &dir,
        input,
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("line 3"),
        "names the line: {}",
        stderr(&output)
    );
    assert_eq!(
        consume_values(&dir),
        ["a", "b"],
        "records before the bad line are kept"
    );

    // The fixed input, re-run with the same producer id, appends only what is missing.
    let fixed = "{\"value\":\"a\"}\n{\"value\":\"b\"}\n{\"value\":\"x\"}\n{\"value\":\"c\"}\n";
    let output = run(
        &["log", "produce", "--topic", "t", "--producer-id", "1"],
        &dir,
        fixed,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        (
            summary["appended"].as_u64(),
            summary["deduplicated"].as_u64()
        ),
        (Some(2), Some(2))
    );
    assert_eq!(consume_values(&dir), ["a", "b", "x", "c"]);

    let output = run(
        &["log", "produce", "--topic", "t"],
        &dir,
        "{\"key\":5,\"value\":\"v\"}\n",
    );
    assert!(stderr(&output).contains("line 1") && stderr(&output).contains("key must be a string"));
    let output = run(
        &["log", "produce", "--topic", "t"],
        &dir,
        "{\"value\":\"v\",\"extra\":1}\n",
    );
    assert!(
        stderr(&output).contains("unknown field"),
        "{}",
        stderr(&output)
    );

    let output = run(
        &["log", "produce", "--topic", "nope"],
        &dir,
        "{\"value\":\"v\"}\n",
    );
    assert!(!output.status.success() && stderr(&output).contains("unknown topic 'nope'"));
    let output = run(
        &[
            "log",
            "produce",
            "--topic",
            "t",
            "--durability",
            "sometimes",
        ],
        &dir,
        "",
    );
    assert!(!output.status.success() && stderr(&output).contains("unknown durability"));
    let output = run(
        &["log", "consume", "--topic", "t", "--partition", "4"],
        &dir,
        "",
    );
    assert!(!output.status.success() && stderr(&output).contains("1 partitions"));
    let output = run(
        &["log", "consume", "--topic", "t", "--from-offset", "99"],
        &dir,
        "",
    );
    assert!(!output.status.success() && stderr(&output).contains("out of range"));
    let output = run(&["log", "create", "--topic", "../evil"], &dir, "");
    assert!(!output.status.success() && stderr(&output).contains("invalid topic name"));
    assert_eq!(
        consume_values(&dir),
        ["a", "b", "x", "c"],
        "nothing lost by failed commands"
    );
}

#[test]
fn a_second_process_is_refused_while_the_log_is_open() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("log");
    assert!(run(&["log", "create", "--topic", "t"], &dir, "")
        .status
        .success());
    // A producer reading stdin keeps the log open until its input ends.
    let mut holder = Command::new(EXE)
        .args(["log", "produce", "--topic", "t", "--dir"])
        .arg(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut held_stdin = holder.stdin.take().unwrap();
    writeln!(held_stdin, "{{\"value\":\"held\"}}").unwrap();
    // Wait until the producer holds the lock (probing with a second writer could itself
    // take the lock first and make the producer fail).
    let lock_path = dir.join("LOCK");
    let mut held = false;
    for _ in 0..500 {
        let probe = std::fs::OpenOptions::new()
            .write(true)
            .open(&lock_path)
            .unwrap();
        if matches!(probe.try_lock(), Err(std::fs::TryLockError::WouldBlock)) {
            held = true;
            break;
        }
        drop(probe);
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(held, "the producer never took the lock");
    // The producer owns topic `t` (and holds `LOCK` shared): a second writer of `t` and a
    // whole-log writer are refused; another topic may be created beside it.
    let same_topic = run(
        &["log", "produce", "--topic", "t"],
        &dir,
        "{\"value\":\"second\"}\n",
    );
    let same_topic_refused = (!same_topic.status.success()).then(|| stderr(&same_topic));
    let whole_log = run(&["log", "repair"], &dir, "");
    let whole_log_refused = (!whole_log.status.success()).then(|| stderr(&whole_log));
    let other_topic = run(&["log", "create", "--topic", "other"], &dir, "");
    drop(held_stdin);
    assert!(holder.wait().unwrap().success());
    let message = same_topic_refused
        .expect("a second writer of the topic must be refused while the producer holds it");
    assert!(
        message.contains("topic 't' is owned by another process"),
        "{message}"
    );
    let message =
        whole_log_refused.expect("a whole-log writer must be refused while the producer runs");
    assert!(message.contains("locked by another process"), "{message}");
    assert!(other_topic.status.success(), "{}", stderr(&other_topic));
    assert_eq!(consume_values(&dir), ["held"]);
}

#[test]
fn verify_fails_on_a_damaged_segment() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("log");
    assert!(run(&["log", "create", "--topic", "t"], &dir, "")
        .status
        .success());
    let input: String = (0..100)
        .map(|i| format!("{{\"value\":\"v{i}\"}}\n"))
        .collect();
    let output = run(
        &["log", "produce", "--topic", "t", "--batch-records", "10"],
        &dir,
        &input,
    );
    assert!(output.status.success());
    assert!(run(&["log", "verify"], &dir, "").status.success());
    let segment = dir.join("t/0/00000000000000000000.log");
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes[200] ^= 0x04; // inside the second batch: valid batches follow, so it is corruption
    std::fs::write(&segment, &bytes).unwrap();
    let output = run(&["log", "verify"], &dir, "");
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("CORRUPT") && stderr(&output).contains("00000000000000000000.log")
    );
    let output = run(&["log", "consume", "--topic", "t"], &dir, "");
    assert!(
        !output.status.success(),
        "opening refuses to skip corruption"
    );
    assert!(stderr(&output).contains("corrupt"), "{}", stderr(&output));
}
