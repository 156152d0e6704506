//! `log repair` cuts only the end of each partition's active segment. Damage in a sealed
//! segment must not pass as repaired: repair exits non-zero naming the damaged file, cuts
//! nothing, and every byte of the log is unchanged.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::log_damage_common;

use log_damage_common::*;

#[test]
fn damage_in_a_sealed_segment_is_reported_and_nothing_is_cut() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("log");
    run_ok(&["log", "create", "--topic", "t"], &dir, "");
    let input: String = (0..300)
        .map(|i| format!("{{\"value\":\"value number {i}\"}}\n"))
        .collect();
    let args = [
        "log",
        "produce",
        "--topic",
        "t",
        "--segment-bytes",
        "4096",
        "--batch-records",
        "10",
    ];
    run_ok(&args, &dir, &input);
    let sealed = first_segment(&dir, "t");
    let mut bytes = std::fs::read(&sealed).unwrap();
    let (start, end) = batch_ranges(&bytes)[1];
    bytes[(start + end) / 2] ^= 0x02;
    std::fs::write(&sealed, &bytes).unwrap();
    let partition = dir.join("t/0");
    let before: Vec<(std::path::PathBuf, Vec<u8>)> = std::fs::read_dir(&partition)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    assert!(before.len() > 3, "several segments expected");

    let repair = run(&["log", "repair"], &dir, "");
    let err = String::from_utf8_lossy(&repair.stderr);
    assert!(
        !repair.status.success(),
        "repair passed sealed damage as repaired: {err}"
    );
    assert!(err.contains("damage remains"), "{err}");
    assert!(err.contains(&sealed.display().to_string()), "{err}");
    for (path, bytes) in &before {
        assert_eq!(
            &std::fs::read(path).unwrap(),
            bytes,
            "{} changed",
            path.display()
        );
    }
}
