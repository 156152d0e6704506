//! The bank across NATS JetStream (a nats-server 2.15 of our own) with its stores in
//! PostgreSQL, whose connections are cut while the endpoints are inside a store
//! transaction: every 100 ms the test terminates (`pg_terminate_backend`, as an operator
//! or a failover does) the endpoints' backends that are `active` or `idle in transaction`
//! — mid-batch or mid-`COMMIT`. A cut before the commit loses the batch (its deliveries
//! are not acknowledged on JetStream and the next session reads them again from the
//! committed positions); a lost answer to a `COMMIT` that did commit is made safe by the
//! inbox. The audit must be exact: every transfer debited and credited once, no copy in
//! the credits stream, no endpoint failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::endpoint_bank_common;
use crate::kill_common;
use crate::nats_run_common;
use crate::pg_common;

use kill_common::exactly;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Terminations that must hit a backend inside a transaction.
const MID_TRANSACTION_CUTS_MIN: u64 = 3;

#[test]
fn pg_connections_cut_mid_transaction_then_bank_over_nats_is_exact() {
    let temp = tempfile::tempdir().unwrap();
    let Some(server) = nats_run_common::server(&temp.path().join("nats")) else {
        return;
    };
    let url = pg_common::pg_url();
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let prefix = format!("exactly_bank_natspg_{}", std::process::id());
    let work = temp.path().join("bank");
    std::fs::create_dir_all(&work).unwrap();
    let work = work.canonicalize().unwrap();

    // Until accounts-b is told to drain (checked right before each cut, so the audit's own
    // sessions are never hit), or the bank returned.
    let (done, cut) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let terminator = {
        let (done, cut, work) = (Arc::clone(&done), Arc::clone(&cut), work.clone());
        let pattern = format!("exactly-endpoint/{prefix}%");
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(100));
            if done.load(Ordering::SeqCst) || work.join("stop-b").exists() {
                break;
            }
            let rows = admin
                .query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE application_name LIKE $1 \
                     AND state IN ('active', 'idle in transaction')",
                    &[&pattern],
                )
                .unwrap();
            let hits = rows.iter().filter(|row| row.get::<_, bool>(0)).count();
            cut.fetch_add(hits as u64, Ordering::SeqCst);
        })
    };
    let transfers = 5_000u64;
    let output = exactly(
        &[
            "endpoint",
            "bank",
            "--store",
            &url,
            "--transport",
            &server.url(),
            "--schema-prefix",
            &prefix,
            "--transfers",
            &transfers.to_string(),
            "--batch",
            "8",
            "--kill-every",
            "0",
            "--seed",
            "17",
            "--timeout-s",
            "300",
            "--json",
        ],
        &work,
    )
    .output()
    .unwrap();
    done.store(true, Ordering::SeqCst);
    terminator.join().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let endpoints: String = ["accounts-a.stderr", "accounts-b.stderr"]
        .iter()
        .map(|name| std::fs::read_to_string(work.join(name)).unwrap_or_default())
        .collect();
    let context = format!("{stdout}\n{stderr}\nendpoints: {endpoints}");
    assert!(output.status.success(), "{context}");
    let cut = cut.load(Ordering::SeqCst);
    assert!(
        cut >= MID_TRANSACTION_CUTS_MIN,
        "only {cut} connections cut inside a transaction: {context}"
    );
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    endpoint_bank_common::assert_nats_audit_exact(&report, transfers, &context);
    assert!(
        endpoints.contains("reconnecting"),
        "an endpoint reconnected to PostgreSQL: {context}"
    );
    println!("{cut} connections cut inside a transaction; {report}");
}
