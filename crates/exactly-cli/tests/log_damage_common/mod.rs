//! Helpers of the CLI tests that damage a log on disk: run `exactly`, walk batches, flip
//! bits, read values back.
#![allow(dead_code)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use exactly_log::batch::check_batch;
use std::path::{Path, PathBuf};
use std::process::Output;

/// The binary under test.
pub const EXE: &str = env!("CARGO_BIN_EXE_exactly");

/// Runs `exactly <args> --dir <dir>` with `stdin`.
pub fn run(args: &[&str], dir: &Path, stdin: &str) -> Output {
    let mut command = exactly_testkit::cli::command_in(EXE, args, dir);
    // A command refused before it reads its input closes the pipe: not an error here.
    exactly_testkit::cli::output_with_stdin(&mut command, stdin).unwrap()
}

/// Runs and asserts success; returns stdout.
pub fn run_ok(args: &[&str], dir: &Path, stdin: &str) -> String {
    let out = run(args, dir, stdin);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The values `log consume` prints (read_committed unless `isolation` says otherwise).
pub fn consume_values(dir: &Path, topic: &str) -> Vec<String> {
    run_ok(&["log", "consume", "--topic", topic], dir, "")
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["value"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

/// The only segment of partition 0 of `topic`.
pub fn first_segment(dir: &Path, topic: &str) -> PathBuf {
    dir.join(topic)
        .join("0")
        .join(exactly_log::segment_file_name(exactly_core::Offset(0)))
}

/// (start, end) byte ranges of the whole batches of `bytes`.
pub fn batch_ranges(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Ok(h) = check_batch(&bytes[at..], 16 << 20) {
        out.push((at, at + h.batch_len as usize));
        at += h.batch_len as usize;
    }
    out
}

/// Flips one bit in the middle of the last batch of `file`; returns its byte range.
pub fn flip_last_batch(file: &Path) -> (usize, usize) {
    let mut bytes = std::fs::read(file).unwrap();
    let (start, end) = *batch_ranges(&bytes).last().unwrap();
    bytes[(start + end) / 2] ^= 0x04;
    std::fs::write(file, bytes).unwrap();
    (start, end)
}
