//! Regression: damage in the newest batch of a partition — after it was fsynced and
//! acknowledged — was taken for a torn write. The next writer cut it silently, handed its
//! offsets to new records, and `log verify` reported a clean log afterwards. Same for an
//! active segment truncated to zero bytes.
//!
//! Now the durable-end evidence makes opening refuse (non-zero exit naming the file, the byte
//! and the offsets), `log verify` reports it, and only `log repair` cuts it, printing what it
//! drops. Checked after a clean close and after a `kill -9` of a `log produce` child.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use exactly_log::batch::check_batch;
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
    // A command refused before it reads its input closes the pipe: not an error here.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn lines(from: u32, to: u32) -> String {
    (from..to)
        .map(|i| format!("{{\"value\":\"v{i}\"}}\n"))
        .collect()
}

fn consume_values(dir: &Path) -> Vec<String> {
    let output = run(&["log", "consume", "--topic", "t"], dir, "");
    assert!(output.status.success(), "{}", text(&output.stderr));
    text(&output.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["value"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

fn segment(dir: &Path) -> PathBuf {
    dir.join("t/0")
        .join(exactly_log::segment_file_name(exactly_core::Offset(0)))
}

/// (start, end, base offset, records) of every whole batch of `bytes`.
fn batches(bytes: &[u8]) -> Vec<(usize, usize, u64, u64)> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Ok(h) = check_batch(&bytes[at..], 16 << 20) {
        let end = at + h.batch_len as usize;
        out.push((at, end, h.base_offset.0, u64::from(h.record_count)));
        at = end;
    }
    out
}

fn create_and_produce(dir: &Path, records: u32) {
    assert!(run(&["log", "create", "--topic", "t"], dir, "")
        .status
        .success());
    // One batch per invocation: the last batch is the last invocation's.
    for i in 0..records {
        let out = run(&["log", "produce", "--topic", "t"], dir, &lines(i, i + 1));
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
}

/// Opening for writing, reading and verifying all refuse, naming the file, the byte and the
/// offsets; repair cuts exactly the damage and prints it; afterwards all is clean.
fn assert_refused_then_repaired(dir: &Path, position: u64, lost: (u64, u64), kept: &[String]) {
    let file = segment(dir);
    let at_byte = format!("at byte {position}");
    let offsets = format!("offsets {}..{}", lost.0, lost.1);
    let produce = run(&["log", "produce", "--topic", "t"], dir, &lines(100, 101));
    let err = text(&produce.stderr);
    assert!(!produce.status.success(), "produce accepted: {err}");
    for want in [&file.display().to_string(), &at_byte, &offsets] {
        assert!(
            err.contains(want.as_str()),
            "produce error lacks '{want}': {err}"
        );
    }
    let verify = run(&["log", "verify"], dir, "");
    let err = text(&verify.stderr);
    assert!(!verify.status.success(), "verify called it clean: {err}");
    assert!(
        err.contains("DURABLE DATA LOST") && err.contains(&offsets),
        "{err}"
    );
    let consume = run(&["log", "consume", "--topic", "t"], dir, "");
    assert!(!consume.status.success(), "consume read a damaged log");
    assert!(
        text(&consume.stderr).contains(&offsets),
        "{}",
        text(&consume.stderr)
    );

    let repair = run(&["log", "repair"], dir, "");
    assert!(repair.status.success(), "{}", text(&repair.stderr));
    let printed: serde_json::Value =
        serde_json::from_str(text(&repair.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(printed["repaired"], file.display().to_string());
    assert_eq!(printed["cut_at_byte"], position);
    assert_eq!(printed["first_dropped_offset"], lost.0);
    assert_eq!(
        printed["dropped_offsets"],
        serde_json::json!([lost.0, lost.1])
    );
    assert_eq!(printed["durable_offsets_dropped"], lost.1 - lost.0);
    assert_eq!(std::fs::metadata(&file).unwrap().len(), position);

    let again = run(&["log", "repair"], dir, "");
    assert!(again.status.success());
    assert!(
        text(&again.stdout).contains("nothing to repair"),
        "{}",
        text(&again.stdout)
    );
    assert!(run(&["log", "verify"], dir, "").status.success());
    assert_eq!(consume_values(dir), kept);
    // New records continue at the cut.
    assert!(
        run(&["log", "produce", "--topic", "t"], dir, &lines(200, 201))
            .status
            .success()
    );
    let mut want = kept.to_vec();
    want.push("v200".into());
    assert_eq!(consume_values(dir), want);
}

fn values(range: std::ops::Range<u32>) -> Vec<String> {
    range.map(|i| format!("v{i}")).collect()
}

#[test]
fn bit_flip_in_the_last_batch_after_a_clean_close_is_refused_until_repaired() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("log");
    create_and_produce(&dir, 5);
    let mut bytes = std::fs::read(segment(&dir)).unwrap();
    let all = batches(&bytes);
    assert_eq!(all.len(), 5);
    let (start, end, base, count) = all[4];
    bytes[(start + end) / 2] ^= 0x10;
    std::fs::write(segment(&dir), bytes).unwrap();
    assert_refused_then_repaired(&dir, start as u64, (base, base + count), &values(0..4));
}

#[test]
fn active_segment_truncated_to_zero_is_refused_until_repaired() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("log");
    create_and_produce(&dir, 3);
    std::fs::File::options()
        .write(true)
        .open(segment(&dir))
        .unwrap()
        .set_len(0)
        .unwrap();
    assert_refused_then_repaired(&dir, 0, (0, 3), &[]);
}

/// The durable end a `durable-end` file claims, decoded naively: two slots at bytes 0 and
/// 512, each a 16-byte frame header then sequence, segment base, position, next offset as
/// little-endian u64; the higher sequence wins.
fn claimed_position(dir: &Path) -> u64 {
    let bytes = std::fs::read(dir.join("t/0/durable-end")).unwrap();
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
    let newest = [16usize, 512 + 16]
        .into_iter()
        .max_by_key(|at| u64_at(*at))
        .unwrap();
    assert_eq!(u64_at(newest + 8), 0, "one segment expected");
    u64_at(newest + 16)
}

#[test]
fn bit_flip_in_an_acknowledged_batch_after_kill9_is_refused_until_repaired() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("log");
    assert!(run(&["log", "create", "--topic", "t"], &dir, "")
        .status
        .success());
    let mut child = Command::new(EXE)
        .args([
            "log",
            "produce",
            "--topic",
            "t",
            "--batch-records",
            "1",
            "--dir",
        ])
        .arg(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Feed lines until the evidence covers a few batches, then kill -9 mid-stream.
    let mut i = 0;
    while !dir.join("t/0/durable-end").exists() || claimed_position(&dir) < 500 {
        stdin.write_all(lines(i, i + 1).as_bytes()).unwrap();
        stdin.flush().unwrap();
        i += 1;
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let durable = claimed_position(&dir);
    let mut bytes = std::fs::read(segment(&dir)).unwrap();
    let all = batches(&bytes);
    // The last batch the evidence covers; anything after it (unacknowledged) is dropped.
    let k = all.iter().rposition(|b| b.1 as u64 <= durable).unwrap();
    assert_eq!(
        all[k].1 as u64, durable,
        "the evidence ends on a batch boundary"
    );
    let (start, end, base, count) = all[k];
    bytes.truncate(end);
    bytes[(start + end) / 2] ^= 0x01;
    std::fs::write(segment(&dir), bytes).unwrap();
    assert_refused_then_repaired(
        &dir,
        start as u64,
        (base, base + count),
        &values(0..base as u32),
    );
}
