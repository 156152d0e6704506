//! Regression: `topic.json` had no checksum and a removed partition directory was
//! recreated empty. A flipped bit turning `"partitions":1` into `3` opened as a valid
//! three-partition topic (the writer created the missing partitions, changing where keys
//! go), and a deleted partition directory was silently recreated, its records gone. Both
//! are now refused by writers, readers and `log verify`, naming the file.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

const EXE: &str = env!("CARGO_BIN_EXE_exactly");

fn exactly(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(EXE)
        .args(args)
        .arg("--dir")
        .arg(dir)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(text) = stdin {
        use std::io::Write;
        // A command that refuses before reading its input closes the pipe: not an error here.
        let _ = child.stdin.take().unwrap().write_all(text.as_bytes());
    }
    child.wait_with_output().unwrap()
}

fn log_with_records(dir: &Path, partitions: &str) {
    assert!(exactly(
        dir,
        &["log", "create", "--topic", "t", "--partitions", partitions],
        None
    )
    .status
    .success());
    let lines: String = (0..20)
        .map(|i| format!("{{\"key\":\"k{i}\",\"value\":\"v{i}\"}}\n"))
        .collect();
    let produced = exactly(dir, &["log", "produce", "--topic", "t"], Some(&lines));
    assert!(
        produced.status.success(),
        "{}",
        String::from_utf8_lossy(&produced.stderr)
    );
}

/// Every command refuses, and its error names `needle`.
fn all_refuse_naming(dir: &Path, needle: &str) {
    let commands: [&[&str]; 4] = [
        &["log", "verify"],
        &["log", "consume", "--topic", "t"],
        &["log", "describe"],
        &["log", "produce", "--topic", "t"],
    ];
    for args in commands {
        let out = exactly(dir, args, Some("{\"value\":\"x\"}\n"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} exited 0");
        assert!(
            stderr.contains(needle),
            "{args:?} does not name {needle}: {stderr}"
        );
    }
}

#[test]
fn a_flipped_partition_count_is_refused() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("log");
    log_with_records(&dir, "1");
    let meta = dir.join("t").join("topic.json");
    let text = std::fs::read_to_string(&meta).unwrap();
    assert!(text.contains("\"partitions\":1"), "{text}");
    std::fs::write(&meta, text.replace("\"partitions\":1", "\"partitions\":3")).unwrap();
    all_refuse_naming(&dir, "topic.json");
    assert!(!dir.join("t").join("1").exists(), "a partition was created");
}

#[test]
fn a_removed_partition_directory_is_refused() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("log");
    log_with_records(&dir, "2");
    std::fs::remove_dir_all(dir.join("t").join("1")).unwrap();
    all_refuse_naming(&dir, "partition directory missing");
    assert!(
        !dir.join("t").join("1").exists(),
        "the partition was recreated"
    );
}
