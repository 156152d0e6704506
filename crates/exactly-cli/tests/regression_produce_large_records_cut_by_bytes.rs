//! Regression: `log produce` cut batches by record count only, so an input of large
//! records failed with "batch … exceeds the maximum" and no line number. Batches are now
//! cut by bytes too: every record is appended, once, in order.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::kill_common;

use kill_common::exactly;

#[test]
fn large_records_then_batches_cut_by_bytes_and_all_appended() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("log");
    assert!(exactly(&["log", "create", "--topic", "t"], &dir)
        .output()
        .unwrap()
        .status
        .success());
    // 60 records of 20 KB with a 64 KiB batch limit (from --segment-bytes): at most three
    // fit in a batch, while --batch-records allows 1000.
    let values: Vec<String> = (0..60)
        .map(|i| format!("{i:03}-{}", "x".repeat(20_000)))
        .collect();
    let input = temp.path().join("big.jsonl");
    let text: String = values
        .iter()
        .map(|v| format!("{{\"value\":\"{v}\"}}\n"))
        .collect();
    std::fs::write(&input, text).unwrap();
    let produce = || {
        exactly(
            &[
                "log",
                "produce",
                "--topic",
                "t",
                "--producer-id",
                "3",
                "--segment-bytes",
                "65536",
            ],
            &dir,
        )
        .arg("--input")
        .arg(&input)
        .output()
        .unwrap()
    };
    let output = produce();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // A re-run cuts the same batches: everything is a duplicate.
    let output = produce();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        (report["appended"].as_u64(), report["deduplicated"].as_u64()),
        (Some(0), Some(60))
    );

    let output = exactly(&["log", "consume", "--topic", "t"], &dir)
        .output()
        .unwrap();
    assert!(output.status.success());
    let stored: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["value"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(stored, values);
}
