//! ACLs on transactional ids and consumer groups, through confluent-kafka: a principal
//! allowed to write a topic but not its transactional id gets
//! TRANSACTIONAL_ID_AUTHORIZATION_FAILED from `init_transactions` and writes nothing; one
//! allowed to read a topic but not the group gets GROUP_AUTHORIZATION_FAILED; the same
//! client as a principal with both grants commits a transaction and reads in the group.

// Test helpers, not library code: a panic is the failure report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::secure;

use exactly_kafka::security::SecurityOptions;
use exactly_kafka::ServerOptions;
use secure::*;

const ACLS: &str = "\
allow User:dave all topic t
allow User:erin all topic t
allow User:erin all transactional-id t-*
allow User:erin read group g
";

fn client(pki: &Pki, broker: &str, user: &str, mode: &str, last: &str) -> serde_json::Value {
    let config = serde_json::json!({
        "bootstrap.servers": broker,
        "security.protocol": "SASL_SSL",
        "sasl.mechanisms": "SCRAM-SHA-256",
        "sasl.username": user,
        "sasl.password": format!("{user}-pw"),
        "ssl.ca.location": pki.ca.to_str().unwrap(),
    });
    run_python(&[
        script("secure_client.py").to_str().unwrap(),
        mode,
        &config.to_string(),
        "t",
        last,
    ])
}

#[test]
fn transactional_ids_and_groups_are_refused_without_grants() {
    let pki = Pki::new();
    let security = SecurityOptions {
        tls: Some(pki.server_tls(false)),
        users: Some(users(
            pki.dir.path(),
            &[("dave", "dave-pw"), ("erin", "erin-pw")],
        )),
        acls: Some(acls(ACLS)),
        plain_without_tls: false,
    };
    let server = start(security, ServerOptions::default());
    server.log.create_topic("t", 1).unwrap();
    let broker = server.addr.to_string();
    let end = || server.log.partition_info("t", 0).unwrap().end_offset.0;

    let dave = client(&pki, &broker, "dave", "txn", "t-1");
    assert_eq!(
        dave["outcome"], "TRANSACTIONAL_ID_AUTHORIZATION_FAILED",
        "{dave}"
    );
    assert_eq!(end(), 0);
    let dave = client(&pki, &broker, "dave", "group", "g");
    let errors = dave["errors"].as_array().unwrap();
    assert!(
        errors.iter().any(|e| e == "GROUP_AUTHORIZATION_FAILED"),
        "{dave}"
    );

    let erin = client(&pki, &broker, "erin", "txn", "t-1");
    assert_eq!(erin["outcome"], "ok", "{erin}");
    // The record and the commit marker.
    assert_eq!(end(), 2);
    let erin = client(&pki, &broker, "erin", "group", "g");
    assert_eq!(erin["errors"], serde_json::json!([]), "{erin}");
    assert_eq!(erin["consumed"], 1, "{erin}");
}
