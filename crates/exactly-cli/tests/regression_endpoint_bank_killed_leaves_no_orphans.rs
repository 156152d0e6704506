//! Regression: SIGKILL of `exactly endpoint bank` orphaned its two endpoint processes
//! (they ran on, forever) and, on PostgreSQL, left their schemas behind. Now the endpoints
//! die with `bank` (they exit when the pipe `bank` holds as their standard input closes),
//! and the next bank run on the same database drops the schemas of the killed run.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::kill_common;

use kill_common::exactly;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Pids of processes whose command line mentions `dir` (the bank's endpoints), read from
/// `/proc` independently of the code under test.
fn processes_using(dir: &Path) -> Vec<u32> {
    let needle = dir.to_string_lossy().into_owned();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if args.iter().any(|a| a == "serve") && args.contains(&needle) {
            pids.push(pid);
        }
    }
    pids
}

/// Waits (bounded) until `done()`; returns whether it happened.
fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    done()
}

fn start_bank(dir: &Path, store: &str, extra: &[&str]) -> Child {
    let mut args = vec![
        "endpoint",
        "bank",
        "--store",
        store,
        "--transfers",
        "2000000",
        "--kill-every",
        "0",
    ];
    args.extend_from_slice(extra);
    exactly(&args, dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// SIGKILLs `bank` once both endpoints run; asserts both endpoints die.
fn kill_bank_and_assert_endpoints_die(dir: &Path, mut bank: Child) {
    let started = wait_until(Duration::from_secs(60), || processes_using(dir).len() == 2);
    if !started {
        let _ = bank.kill();
        panic!("the two endpoints did not start");
    }
    bank.kill().unwrap(); // SIGKILL
    bank.wait().unwrap();
    let died = wait_until(Duration::from_secs(30), || processes_using(dir).is_empty());
    let left = processes_using(dir);
    for pid in &left {
        // Clean up after a failure: do not leave orphans of the test itself.
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status();
    }
    assert!(
        died,
        "endpoint processes {left:?} outlived the SIGKILLed bank"
    );
}

#[test]
fn bank_killed_then_embedded_endpoints_die_with_it() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().canonicalize().unwrap();
    let bank = start_bank(&dir, "embedded", &[]);
    kill_bank_and_assert_endpoints_die(&dir, bank);
}

#[test]
fn bank_on_postgres_killed_then_next_run_drops_its_schemas() {
    let url = std::env::var("EXACTLY_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let mut admin = match postgres::Client::connect(&url, postgres::NoTls) {
        Ok(client) => client,
        Err(error) if std::env::var("EXACTLY_SKIP_POSTGRES").as_deref() != Ok("1") => {
            panic!("PostgreSQL at {url} is required (set EXACTLY_SKIP_POSTGRES=1 to skip) but unreachable: {error}")
        }
        Err(error) => {
            println!("SKIPPED: PostgreSQL at {url} unreachable ({error})");
            return;
        }
    };
    let prefix = format!("exactly_bank_orphan_{}", std::process::id());
    let schemas = |admin: &mut postgres::Client| -> Vec<String> {
        admin
            .query(
                "SELECT nspname::text FROM pg_namespace WHERE nspname IN ($1, $2) ORDER BY 1",
                &[&format!("{prefix}_a"), &format!("{prefix}_b")],
            )
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect()
    };

    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().canonicalize().unwrap();
    let bank = start_bank(&dir, &url, &["--schema-prefix", &prefix]);
    let created = wait_until(Duration::from_secs(60), || schemas(&mut admin).len() == 2);
    assert!(created, "the endpoints did not create their schemas");
    kill_bank_and_assert_endpoints_die(&dir, bank);
    assert_eq!(
        schemas(&mut admin).len(),
        2,
        "the killed run could not clean up"
    );

    let next = tempfile::tempdir().unwrap();
    let output = exactly(
        &[
            "endpoint",
            "bank",
            "--store",
            &url,
            "--transfers",
            "20",
            "--kill-every",
            "0",
            "--json",
        ],
        next.path(),
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("dropped the schemas {prefix}_a")),
        "{stderr}"
    );
    assert_eq!(
        schemas(&mut admin),
        Vec::<String>::new(),
        "leftover schemas dropped"
    );
}
