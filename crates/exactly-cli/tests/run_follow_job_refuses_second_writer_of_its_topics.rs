//! While a follow job runs, its input stays writable (it only follows it), but what it
//! writes is its alone: a `log produce` into its output topic and a second instance of the
//! job must be refused with an error naming the topic, and a whole-log writer
//! (`log repair`) must be refused while the job holds its share of the log. None of the
//! refused commands may write anything: the output topic keeps exactly what the job wrote.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::run_common;

use run_common::{exactly, gen_transfers, stderr};
use std::io::Write;
use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

fn follow_job(dir: &Path) -> Child {
    exactly(
        &[
            "run",
            "balances",
            "--input",
            "transfers",
            "--output",
            "balances",
            "--follow",
            "--checkpoint-interval-ms",
            "10",
        ],
        dir,
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap()
}

fn produce(dir: &Path, topic: &str, line: &str) -> Output {
    let mut child = exactly(&["log", "produce", "--topic", topic], dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // A refused run may exit before reading its input.
    let _ = writeln!(stdin, "{line}");
    drop(stdin);
    child.wait_with_output().unwrap()
}

#[test]
fn follow_job_owns_its_outputs_and_leaves_its_input_writable() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("log");
    gen_transfers(&dir, 1_000, 7);
    let mut job = follow_job(&dir);
    let status = dir.join(".jobs/balances/status.json");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !status.exists() {
        assert!(Instant::now() < deadline, "the job never checkpointed");
        assert!(job.try_wait().unwrap().is_none(), "the follow job exited");
        std::thread::sleep(Duration::from_millis(20));
    }

    // Its input: writable by another process.
    let fed = produce(&dir, "transfers", r#"{"value":"not a transfer"}"#);
    assert!(
        fed.status.success(),
        "produce into the input: {}",
        stderr(&fed)
    );

    // Its output: refused, naming the topic, nothing written.
    let refused = produce(&dir, "balances", r#"{"key":"x","value":"1"}"#);
    assert!(
        !refused.status.success(),
        "a second writer of the output ran"
    );
    let message = stderr(&refused);
    assert!(
        message.contains("topic 'balances' is owned by another process"),
        "{message}"
    );

    // A second instance of the job: refused the same way.
    let second = exactly(
        &[
            "run",
            "balances",
            "--input",
            "transfers",
            "--output",
            "balances",
        ],
        &dir,
    )
    .output()
    .unwrap();
    assert!(!second.status.success(), "a second instance of the job ran");
    assert!(
        stderr(&second).contains("is owned by another process"),
        "{}",
        stderr(&second)
    );

    // A whole-log writer: refused while the job holds its share of the log.
    let repair = exactly(&["log", "repair"], &dir).output().unwrap();
    assert!(!repair.status.success(), "log repair ran beside a writer");
    assert!(stderr(&repair).contains("locked"), "{}", stderr(&repair));

    assert!(job.try_wait().unwrap().is_none(), "the follow job exited");
    job.kill().unwrap();
    job.wait().unwrap();
    // The refused producer wrote nothing.
    let consumed = run_common::consume(&dir, "balances");
    assert!(
        consumed.iter().all(|r| r.key.as_deref() != Some("x")),
        "the refused record reached the output"
    );
}
