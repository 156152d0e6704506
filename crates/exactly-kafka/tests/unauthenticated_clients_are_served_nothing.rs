//! With SASL required, a connection is served nothing but ApiVersions, SaslHandshake and
//! SaslAuthenticate until it authenticates: any other request closes it unanswered. A
//! wrong password is answered SASL_AUTHENTICATION_FAILED and the connection closed, for a
//! raw client (PLAIN) and for confluent-kafka (SCRAM-SHA-256), whose records never reach
//! the log. PLAIN is not offered without TLS. Failures are counted.

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
use secure::*;
use std::io::Write;

#[test]
fn nothing_is_served_without_credentials_and_wrong_passwords_are_refused() {
    let pki = Pki::new();
    let users = users(pki.dir.path(), &[("alice", "alice-pw")]);
    let security = SecurityOptions {
        tls: Some(pki.server_tls(false)),
        users: Some(users.clone()),
        acls: None,
        plain_without_tls: false,
    };
    let server = start(security, ServerOptions::default());
    let tls = pki.client_tls();
    let counters = &server.counters;

    // ApiVersions is answered; Metadata before authenticating closes the connection.
    let mut stream = connect_tls(server.addr, tls.clone());
    stream.write_all(&request(API_VERSIONS, 0, &[])).unwrap();
    let versions = read_response(stream.as_mut()).expect("ApiVersions answered");
    assert_eq!(i16_at(&versions, 4), 0);
    assert!(!metadata_answered(stream.as_mut()), "Metadata before SASL");
    assert_eq!(SecurityCounters::get(&counters.unauthenticated_requests), 1);

    // A wrong password: SASL_AUTHENTICATION_FAILED, then the connection is gone.
    let mut stream = connect_tls(server.addr, tls.clone());
    assert_eq!(plain_login(stream.as_mut(), "alice", "wrong"), 58);
    assert!(
        !metadata_answered(stream.as_mut()),
        "Metadata after a failure"
    );
    // An unknown user likewise.
    let mut stream = connect_tls(server.addr, tls.clone());
    assert_eq!(plain_login(stream.as_mut(), "mallory", "alice-pw"), 58);
    assert_eq!(SecurityCounters::get(&counters.authentication_failures), 2);

    // The right password: served (so the refusals above were the authentication's).
    let mut stream = connect_tls(server.addr, tls);
    assert_eq!(plain_login(stream.as_mut(), "alice", "alice-pw"), 0);
    assert!(metadata_answered(stream.as_mut()));

    // confluent-kafka with a wrong SCRAM password: an authentication error, nothing stored.
    let config = serde_json::json!({
        "bootstrap.servers": server.addr.to_string(),
        "security.protocol": "SASL_SSL",
        "sasl.mechanisms": "SCRAM-SHA-256",
        "sasl.username": "alice",
        "sasl.password": "not-alice-pw",
        "ssl.ca.location": pki.ca.to_str().unwrap(),
    });
    let result = run_python(&[
        script("secure_client.py").to_str().unwrap(),
        "produce-one",
        &config.to_string(),
        "never-created",
    ]);
    assert_ne!(result["delivery"], "ok", "{result}");
    let errors = result["errors"].as_array().unwrap();
    assert!(
        errors.iter().any(|e| e == "_AUTHENTICATION"),
        "librdkafka reports an authentication error: {result}"
    );
    assert_eq!(server.log.partition_count("never-created"), None);
    assert!(SecurityCounters::get(&counters.authentication_failures) >= 3);

    // Without TLS (and without --insecure), PLAIN is not offered: the password would
    // travel in the clear.
    let plaintext = start(
        SecurityOptions {
            tls: None,
            users: Some(users),
            acls: None,
            plain_without_tls: false,
        },
        ServerOptions::default(),
    );
    let mut stream = connect_plain(plaintext.addr);
    stream
        .write_all(&request(SASL_HANDSHAKE, 1, &string("PLAIN")))
        .unwrap();
    let handshake = read_response(stream.as_mut()).expect("handshake answered");
    assert_eq!(i16_at(&handshake, 4), 33, "UNSUPPORTED_SASL_MECHANISM");
    assert!(!metadata_answered(stream.as_mut()));
}
