//! Regression: an endpoint on PostgreSQL stopped at the first lost connection (the
//! process exited with "store connection lost"). Now it reconnects with capped exponential
//! backoff and resumes through the same recovery as a restart. Here the endpoints'
//! backends are terminated (`pg_terminate_backend`, as an operator or a failover does)
//! again and again while the bank runs without SIGKILLs; the bank must finish with no
//! endpoint failure and an exact audit.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::kill_common;

use kill_common::exactly;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn backends_terminated_mid_run_then_endpoints_reconnect_and_audit_is_exact() {
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
    let prefix = format!("exactly_bank_reconnect_{}", std::process::id());
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().canonicalize().unwrap();

    // Terminates the endpoints' sessions (found by their application name) every 150 ms
    // until accounts-b is told to drain, counting the terminations that hit a backend.
    let (done, terminated) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let terminator = {
        let (done, terminated, dir) = (Arc::clone(&done), Arc::clone(&terminated), dir.clone());
        let pattern = format!("exactly-endpoint/{prefix}%");
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(Duration::from_millis(150));
                // Checked right before terminating, so the audit's own sessions (opened
                // after accounts-b drained) are never hit.
                if done.load(Ordering::SeqCst) || dir.join("stop-b").exists() {
                    break;
                }
                let rows = admin
                    .query(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                         WHERE application_name LIKE $1",
                        &[&pattern],
                    )
                    .unwrap();
                let hits = rows.iter().filter(|row| row.get::<_, bool>(0)).count();
                terminated.fetch_add(hits as u64, Ordering::SeqCst);
            }
        })
    };
    let transfers = 5_000u64;
    let output = exactly(
        &[
            "endpoint",
            "bank",
            "--store",
            &url,
            "--schema-prefix",
            &prefix,
            "--transfers",
            &transfers.to_string(),
            "--batch",
            "8",
            "--kill-every",
            "0",
            "--seed",
            "7",
            "--json",
        ],
        &dir,
    )
    .output()
    .unwrap();
    done.store(true, Ordering::SeqCst);
    terminator.join().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let endpoint_stderr =
        std::fs::read_to_string(dir.join("accounts-a.stderr")).unwrap_or_default();
    let context = format!("{stdout}\n{stderr}\naccounts-a: {endpoint_stderr}");
    assert!(output.status.success(), "{context}");
    let terminated = terminated.load(Ordering::SeqCst);
    assert!(
        terminated >= 5,
        "only {terminated} backends terminated: {context}"
    );
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(report["ok"], true, "{context}");
    assert_eq!(report["child_failures"], serde_json::json!([]), "{context}");
    assert_eq!(report["debited_once"], transfers, "{context}");
    assert_eq!(report["credited_once"], transfers, "{context}");
    assert_eq!(report["credits_without_debit"], 0, "{context}");
    assert_eq!(report["money_before"], report["money_after"], "{context}");
    assert_eq!(
        report["dead_letters"], report["dead_letters_expected"],
        "{context}"
    );
    assert!(
        endpoint_stderr.contains("reconnecting"),
        "the endpoint reconnected: {endpoint_stderr}"
    );
    println!("{terminated} backends terminated; {report}");
}
