//! Regression: `log produce --producer-id P` derives sequences from input positions, so a
//! re-run with a *different* input had its first N records answered `Duplicate` by the log
//! and silently dropped — exit 0, data lost. Now the producer keeps a fingerprint of the
//! lines it consumed: a different input is refused, naming the first line that differs,
//! and nothing of it is appended; the same input extended resumes; `--epoch` higher
//! appends the new input in full.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::kill_common;

use kill_common::exactly;
use std::path::Path;
use std::process::Output;

fn write_lines(path: &Path, values: &[String]) {
    let text: String = values
        .iter()
        .map(|v| format!("{{\"value\":\"{v}\"}}\n"))
        .collect();
    std::fs::write(path, text).unwrap();
}

fn produce(dir: &Path, input: &Path, epoch: u16) -> Output {
    exactly(
        &[
            "log",
            "produce",
            "--topic",
            "t",
            "--producer-id",
            "7",
            "--batch-records",
            "4",
        ],
        dir,
    )
    .arg("--epoch")
    .arg(epoch.to_string())
    .arg("--input")
    .arg(input)
    .output()
    .unwrap()
}

/// Values in the log, read with `log consume`, sorted by (partition, offset) order of the
/// output.
fn stored_values(dir: &Path) -> Vec<String> {
    let output = exactly(&["log", "consume", "--topic", "t"], dir)
        .output()
        .unwrap();
    assert!(output.status.success());
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

fn values(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}-{i}")).collect()
}

#[test]
fn resume_with_different_input_then_refused_naming_the_line() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("log");
    let created = exactly(&["log", "create", "--topic", "t"], &dir)
        .output()
        .unwrap();
    assert!(created.status.success());
    let (first, second) = (temp.path().join("a.jsonl"), temp.path().join("b.jsonl"));

    write_lines(&first, &values("a", 0..10));
    assert!(produce(&dir, &first, 0).status.success());
    assert_eq!(stored_values(&dir), values("a", 0..10));

    // Same lines 1..=6, a different line 7: refused, naming line 7, nothing appended.
    let mut changed = values("a", 0..6);
    changed.extend(values("b", 0..9));
    write_lines(&second, &changed);
    let output = produce(&dir, &second, 0);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "a different input must be refused"
    );
    assert!(
        stderr.contains("line 7 (input record 7) differs"),
        "{stderr}"
    );
    assert!(
        stderr.contains("--epoch 1"),
        "says how to proceed: {stderr}"
    );
    assert_eq!(
        stored_values(&dir),
        values("a", 0..10),
        "nothing lost or added"
    );

    // The same input, extended: the new lines are appended once.
    let extended = values("a", 0..14);
    write_lines(&first, &extended);
    let output = produce(&dir, &first, 0);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        (report["appended"].as_u64(), report["deduplicated"].as_u64()),
        (Some(4), Some(10))
    );
    assert_eq!(stored_values(&dir), extended);

    // A higher epoch appends the other input in full.
    assert!(produce(&dir, &second, 1).status.success());
    let mut expected = extended.clone();
    expected.extend(changed);
    assert_eq!(stored_values(&dir), expected);
    // And resuming at that epoch with the first input is refused at line 7 again.
    let output = produce(&dir, &first, 1);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("line 7 (input record 7) differs"));
    assert_eq!(stored_values(&dir), expected);
}
