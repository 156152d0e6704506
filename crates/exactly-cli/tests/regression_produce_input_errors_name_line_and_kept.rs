//! Regression: `log produce` input errors did not all name their line and what was kept:
//! invalid UTF-8 failed as "reading line N" and dropped the records queued before it
//! (never appended), and a record too large for any batch failed without a line number.
//! Now each names its line and how many records before it are in the log, and those
//! records are there.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::kill_common;

use kill_common::exactly;
use std::path::Path;

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

fn produce(dir: &Path, input: &Path) -> (bool, String) {
    let output = exactly(
        &[
            "log",
            "produce",
            "--topic",
            "t",
            "--producer-id",
            "5",
            "--segment-bytes",
            "65536",
        ],
        dir,
    )
    .arg("--input")
    .arg(input)
    .output()
    .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn bad_utf8_or_too_large_record_then_error_names_line_and_kept_records() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("log");
    assert!(exactly(&["log", "create", "--topic", "t"], &dir)
        .output()
        .unwrap()
        .status
        .success());
    let input = temp.path().join("in.jsonl");

    // Line 4 has an invalid byte (0xff) at position 10 of the line (0-based).
    let mut bytes = b"{\"value\":\"a\"}\n{\"value\":\"b\"}\n\n".to_vec();
    bytes.extend_from_slice(b"{\"value\":\"\xff\"}\n{\"value\":\"c\"}\n");
    std::fs::write(&input, &bytes).unwrap();
    let (ok, stderr) = produce(&dir, &input);
    assert!(!ok);
    assert!(stderr.contains("line 4 is not valid UTF-8"), "{stderr}");
    assert!(stderr.contains("position 10"), "{stderr}");
    assert!(
        stderr.contains("the 2 records before it are in the log"),
        "{stderr}"
    );
    assert_eq!(stored_values(&dir), ["a", "b"]);

    // The fixed input resumes; line 4 now holds a record larger than any batch.
    let huge = "y".repeat(70_000);
    let text = format!(
        "{{\"value\":\"a\"}}\n{{\"value\":\"b\"}}\n\n{{\"value\":\"d\"}}\n{{\"value\":\"{huge}\"}}\n"
    );
    std::fs::write(&input, text).unwrap();
    let (ok, stderr) = produce(&dir, &input);
    assert!(!ok);
    assert!(
        stderr.contains("line 5: the record takes up to"),
        "{stderr}"
    );
    assert!(stderr.contains("65536-byte batch limit"), "{stderr}");
    assert!(
        stderr.contains(
            "the 3 records before it are in the log (1 appended by this run, 2 were already there)"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(stored_values(&dir), ["a", "b", "d"]);
}
