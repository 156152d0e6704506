//! `exactly sim --json` reports measured R, UR and the mode they imply: the ordered pipe
//! over the hostile link is exactly-once and in order; at-most-once over a lossy link is
//! at-most-once; a failing run would name its seed for replay.

// Test helpers, not library code: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::process::Command;

fn sim(args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_exactly"))
        .arg("sim")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn sim_json_reports_measured_modes() {
    let hostile = [
        "--loss",
        "0.3",
        "--dup",
        "0.1",
        "--reorder",
        "0.1",
        "--corrupt",
        "0.01",
        "--partition-every-ms",
        "2000",
        "--partition-for-ms",
        "150",
    ];
    let mut args = vec!["--pipe", "ordered", "--messages", "20000", "--seed", "7"];
    args.extend(hostile);
    let v = sim(&args);
    assert_eq!(v["mode"], "exactly-once", "{v}");
    assert_eq!((v["r"].as_f64(), v["ur"].as_f64()), (Some(1.0), Some(1.0)));
    assert_eq!(v["in_order"], true);
    assert!(v["duplicates_suppressed"].as_u64().unwrap() > 0);
    assert!(v["frames_sent"].as_u64().unwrap() > 20_000);

    let v = sim(&[
        "--pipe",
        "at-most-once",
        "--loss",
        "0.2",
        "--messages",
        "20000",
    ]);
    assert_eq!(v["mode"], "at-most-once", "{v}");
    let r = v["r"].as_f64().unwrap();
    assert!((r - 0.8).abs() < 0.02, "R {r}");
}
