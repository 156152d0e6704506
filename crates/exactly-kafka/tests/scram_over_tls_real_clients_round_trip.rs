//! kcat and confluent-kafka (librdkafka, written by others) authenticate with SCRAM-SHA-256
//! (and confluent-kafka with SCRAM-SHA-512 too) over TLS to a server that requires SASL
//! and applies ACLs, produce records and consume them back. Oracles: the input itself, and
//! the server's log read directly (every record stored once, in order).

// Test helpers, not library code: a panic is the failure report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::secure;

use exactly_core::Offset;
use exactly_kafka::security::SecurityOptions;
use exactly_kafka::ServerOptions;
use exactly_log::{Isolation, Log};
use secure::{acls, sasl_ssl, script, start, users, Pki};
use std::io::Write;
use std::process::{Command, Stdio};

const ACLS: &str = "\
allow User:alice all topic orders-*
allow User:alice read group *
";

/// Every (key, value) of partition 0 of `topic`, in offset order, read from the log.
fn stored(log: &Log, topic: &str) -> Vec<(String, String)> {
    let read = log
        .read_with(topic, 0, Offset(0), 1_000_000, Isolation::ReadCommitted)
        .unwrap();
    read.records
        .into_iter()
        .map(|r| {
            let key = String::from_utf8(r.key.unwrap()).unwrap();
            (key, String::from_utf8(r.value).unwrap())
        })
        .collect()
}

fn expected(count: usize) -> Vec<(String, String)> {
    (0..count)
        .map(|i| (format!("k{i}"), format!("v{i}")))
        .collect()
}

fn kcat(settings: &[String], args: &[&str], input: Option<String>) -> String {
    let mut command = Command::new("kcat");
    for setting in settings {
        command.args(["-X", setting]);
    }
    let mut child = command
        .args(args)
        .stdin(match input.is_some() {
            true => Stdio::piped(),
            false => Stdio::null(),
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kcat runs (bash .ci/setup-kafka)");
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin.write_all(input.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "kcat {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn kcat_and_confluent_kafka_round_trip_with_scram_over_tls() {
    let pki = Pki::new();
    let security = SecurityOptions {
        tls: Some(pki.server_tls(false)),
        users: Some(users(pki.dir.path(), &[("alice", "alice-secret")])),
        acls: Some(acls(ACLS)),
        plain_without_tls: false,
    };
    let server = start(security, ServerOptions::default());
    let broker = server.addr.to_string();

    // kcat, SCRAM-SHA-256 over TLS: 500 records in, then all of them out.
    let settings = sasl_ssl(&pki, "SCRAM-SHA-256", "alice", "alice-secret");
    let input: String = (0..500).map(|i| format!("k{i}:v{i}\n")).collect();
    let topic = "orders-kcat";
    kcat(
        &settings,
        // Idempotent: a plain producer may reorder batches when it retries one with more
        // in flight (Kafka's contract, seen here under CI load); this one may not.
        &[
            "-b",
            &broker,
            "-P",
            "-t",
            topic,
            "-K",
            ":",
            "-X",
            "enable.idempotence=true",
        ],
        Some(input),
    );
    let out = kcat(
        &settings,
        &[
            "-b",
            &broker,
            "-C",
            "-t",
            topic,
            "-o",
            "beginning",
            "-e",
            "-f",
            "%k:%s:%o\n",
        ],
        None,
    );
    let consumed: Vec<String> = out.lines().map(str::to_string).collect();
    let wanted: Vec<String> = (0..500).map(|i| format!("k{i}:v{i}:{i}")).collect();
    assert_eq!(consumed, wanted);
    assert_eq!(stored(server.log, topic), expected(500));

    // confluent-kafka: idempotent producer and a consumer group, both SCRAM variants.
    for (mechanism, topic, count) in [
        ("SCRAM-SHA-256", "orders-ck256", 1000),
        ("SCRAM-SHA-512", "orders-ck512", 200),
    ] {
        let config: serde_json::Map<String, serde_json::Value> =
            sasl_ssl(&pki, mechanism, "alice", "alice-secret")
                .into_iter()
                .chain([format!("bootstrap.servers={broker}")])
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap();
                    (k.to_string(), v.into())
                })
                .collect();
        let config = serde_json::Value::Object(config).to_string();
        let count_arg = count.to_string();
        let result = secure::run_python(&[
            script("secure_client.py").to_str().unwrap(),
            "round-trip",
            &config,
            topic,
            &count_arg,
            "group-1",
        ]);
        assert_eq!(
            result["produce_errors"],
            serde_json::json!([]),
            "{mechanism}"
        );
        let consumed: Vec<(String, String, i64)> =
            serde_json::from_value(result["consumed"].clone()).unwrap();
        let wanted: Vec<(String, String, i64)> = (0..count)
            .map(|i| (format!("k{i}"), format!("v{i}"), i as i64))
            .collect();
        assert_eq!(consumed, wanted, "{mechanism}");
        assert_eq!(stored(server.log, topic), expected(count), "{mechanism}");
    }
    let counters = &server.counters;
    use exactly_kafka::security::SecurityCounters as C;
    assert_eq!(C::get(&counters.authentication_failures), 0);
}
