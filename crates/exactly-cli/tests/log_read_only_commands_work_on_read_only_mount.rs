//! `log consume`, `log describe` and `log verify` on a read-only bind mount of a log: they
//! used to open every segment read-write and failed with "Read-only file system". Now they
//! succeed, print what a writable copy prints, and the directory is byte-for-byte unchanged
//! (no LOCK file, no index rebuilt, no snapshot written) — checked on the writable original
//! behind the mount, whose sealed segment's index was deleted beforehand.
//!
//! Needs root (mount); the test fails rather than skips without it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
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
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

/// Every file under `dir` with its bytes.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                out.insert(path.strip_prefix(dir).unwrap().to_path_buf(), bytes);
            }
        }
    }
    out
}

/// Unmounts on drop, so a failed assertion does not leave the mount behind.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn mount_read_only(source: &Path, target: &Path) -> Mount {
    std::fs::create_dir_all(target).unwrap();
    let bind = Command::new("mount")
        .arg("--bind")
        .arg(source)
        .arg(target)
        .status()
        .unwrap();
    assert!(bind.success(), "mount --bind failed (the test needs root)");
    let mount = Mount(target.to_path_buf());
    let ro = Command::new("mount")
        .args(["-o", "remount,ro,bind"])
        .arg(target)
        .status()
        .unwrap();
    assert!(ro.success(), "remount read-only failed");
    assert!(
        std::fs::write(target.join("probe"), b"x").is_err(),
        "the mount is writable"
    );
    mount
}

fn stdout_lines(output: &Output) -> Vec<String> {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn read_only_commands_work_on_a_read_only_mount_and_write_nothing() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("log");
    assert!(run(&["log", "create", "--topic", "t"], &dir, "")
        .status
        .success());
    let input: String = (0..400)
        .map(|i| {
            format!(
                "{{\"key\":\"k{}\",\"value\":\"value number {i}\"}}\n",
                i % 7
            )
        })
        .collect();
    // Small segments: several sealed ones, each with an index file.
    let produce = run(
        &[
            "log",
            "produce",
            "--topic",
            "t",
            "--segment-bytes",
            "4096",
            "--batch-records",
            "10",
        ],
        &dir,
        &input,
    );
    assert!(
        produce.status.success(),
        "{}",
        String::from_utf8_lossy(&produce.stderr)
    );
    let txn = run(
        &["log", "txn", "--transactional-id", "tx"],
        &dir,
        "{\"topic\":\"t\",\"value\":\"in a transaction\"}\n",
    );
    assert!(
        txn.status.success(),
        "{}",
        String::from_utf8_lossy(&txn.stderr)
    );
    let index = std::fs::read_dir(dir.join("t/0"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "index"))
        .expect("a sealed segment with an index");
    std::fs::remove_file(&index).unwrap();
    // What the commands print on the writable directory (with --topic: no recovery output).
    let consume = ["log", "consume", "--topic", "t"];
    let expected_records = stdout_lines(&run(&consume, &dir, ""));
    assert_eq!(expected_records.len(), 401);
    let before = tree(&dir);

    let mount = mount_read_only(&dir, &temp.path().join("ro"));
    let ro = mount.0.clone();
    assert_eq!(stdout_lines(&run(&consume, &ro, "")), expected_records);
    let describe = stdout_lines(&run(&["log", "describe"], &ro, ""));
    assert!(
        describe.iter().any(|l| l.contains("\"end_offset\":402")),
        "describe: {describe:?}"
    );
    let verify = stdout_lines(&run(&["log", "verify"], &ro, ""));
    assert!(verify[0].contains("\"damage\":false"), "{verify:?}");
    drop(mount);

    assert_eq!(
        tree(&dir),
        before,
        "a read-only command changed the directory"
    );
    assert!(!index.exists(), "the index was rebuilt on disk");
}
