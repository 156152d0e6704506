//! `exactly --config FILE`: the invoked command's table sets its flags (a switch, values,
//! `_` or `-` in names), flags on the command line win (also over a conflicting flag in
//! the file), and a table that names no command, a key that is no flag, or a value of the
//! wrong shape is refused with exit code 2 naming it: nothing is ignored.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // Tests fail by panicking.

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn exactly(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_exactly"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stdout_ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn refused(dir: &Path, config: &str, needle: &str) {
    std::fs::write(dir.join("bad.toml"), config).unwrap();
    let output = exactly(&["--config", "bad.toml", "log", "consume"], dir);
    assert_eq!(
        output.status.code(),
        Some(2),
        "{config} refused as a usage error"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(needle),
        "{config}: error names {needle}: {stderr}"
    );
}

#[test]
fn config_file_sets_flags_and_command_line_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    stdout_ok(&exactly(
        &["log", "create", "--dir", "l", "--topic", "t"],
        d,
    ));
    let input: String = (0..5)
        .map(|i| format!("{{\"value\":{{\"n\":{i}}}}}\n"))
        .collect();
    std::fs::write(d.join("in.jsonl"), input).unwrap();
    stdout_ok(&exactly(
        &[
            "log", "produce", "--dir", "l", "--topic", "t", "--input", "in.jsonl",
        ],
        d,
    ));

    std::fs::write(
        d.join("exactly.toml"),
        "[log.consume]\ndir = \"l\"\ntopic = \"t\"\nformat = \"table\"\nfollow = true\nmax = 3\n\
         from_offset = 1\n\n[pipe.recv]\nlisten = \"127.0.0.1:9\"\n",
    )
    .unwrap();
    // The file alone: a table, following (ended by max = 3), from offset 1.
    let table = stdout_ok(&exactly(&["--config", "exactly.toml", "log", "consume"], d));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "header and three records: {table}");
    assert!(lines[0].starts_with("PARTITION"));
    assert!(
        lines[1].contains(r#"{"n":1}"#) && lines[3].contains(r#"{"n":3}"#),
        "{table}"
    );

    // Flags on the command line win; `--config=FILE` after the command works too.
    let json = stdout_ok(&exactly(
        &[
            "log",
            "consume",
            "--config=exactly.toml",
            "--format",
            "json",
            "--max",
            "2",
        ],
        d,
    ));
    let values: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["value"].clone())
        .collect();
    assert_eq!(
        values,
        [serde_json::json!({"n": 1}), serde_json::json!({"n": 2})]
    );

    // A flag conflicting with one given on the command line is not taken from the file:
    // `--log` given, so `dir` from the file stays out (and `--log` is what fails).
    let nats = exactly(
        &[
            "--config",
            "exactly.toml",
            "log",
            "consume",
            "--log",
            "nats://127.0.0.1:1",
        ],
        d,
    );
    let stderr = String::from_utf8_lossy(&nats.stderr);
    assert!(!stderr.contains("cannot be used with"), "{stderr}");

    refused(d, "[log.consum]\ndir = \"l\"\n", "[log.consum]");
    refused(d, "[log.consume]\ndirr = \"l\"\n", "unknown key 'dirr'");
    refused(d, "verbose = true\n", "unknown key 'verbose'");
    refused(d, "[log.consume]\nfollow = \"yes\"\n", "follow");
    refused(d, "[log.consume]\ntopic = [\"a\", \"b\"]\n", "topic");
    refused(d, "[log.consume\n", "not valid TOML");
    let missing = exactly(&["--config", "nope.toml", "log", "consume"], d);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nope.toml"));
}
