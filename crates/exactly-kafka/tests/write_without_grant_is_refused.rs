//! A principal whose ACLs do not allow it to write a topic is refused with
//! TOPIC_AUTHORIZATION_FAILED by confluent-kafka's producer (librdkafka reports the
//! broker's code), and nothing of it reaches the log; a principal allowed to write the
//! same topic succeeds on the same server. The denial is counted.

// Test helpers, not library code: a panic is the failure report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::secure;

use exactly_kafka::security::{SecurityCounters, SecurityOptions};
use exactly_kafka::ServerOptions;
use secure::{acls, sasl_ssl, script, start, users, Pki};

const ACLS: &str = "\
allow User:alice write topic orders
allow User:alice create topic orders
allow User:bob read topic orders
";

fn produce_one(pki: &Pki, broker: &str, user: &str, password: &str) -> serde_json::Value {
    let config: serde_json::Map<String, serde_json::Value> =
        sasl_ssl(pki, "SCRAM-SHA-256", user, password)
            .into_iter()
            .chain([format!("bootstrap.servers={broker}")])
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                (k.to_string(), v.into())
            })
            .collect();
    let config = serde_json::Value::Object(config).to_string();
    secure::run_python(&[
        script("secure_client.py").to_str().unwrap(),
        "produce-one",
        &config,
        "orders",
    ])
}

#[test]
fn a_principal_without_write_is_refused_topic_authorization_failed() {
    let pki = Pki::new();
    let security = SecurityOptions {
        tls: Some(pki.server_tls(false)),
        users: Some(users(
            pki.dir.path(),
            &[("alice", "alice-pw"), ("bob", "bob-pw")],
        )),
        acls: Some(acls(ACLS)),
        plain_without_tls: false,
    };
    let server = start(security, ServerOptions::default());
    let broker = server.addr.to_string();
    server.log.create_topic("orders", 1).unwrap();

    let bob = produce_one(&pki, &broker, "bob", "bob-pw");
    assert_eq!(bob["delivery"], "TOPIC_AUTHORIZATION_FAILED", "{bob}");
    let end = |log: &exactly_log::Log| log.partition_info("orders", 0).unwrap().end_offset.0;
    assert_eq!(end(server.log), 0, "nothing of bob's reached the log");
    let denials = SecurityCounters::get(&server.counters.authorization_denials);
    assert!(denials >= 1, "denials counted: {denials}");

    let alice = produce_one(&pki, &broker, "alice", "alice-pw");
    assert_eq!(alice["delivery"], "ok", "{alice}");
    assert_eq!(end(server.log), 1);
}
