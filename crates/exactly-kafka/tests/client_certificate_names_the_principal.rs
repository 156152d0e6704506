//! With a client CA, TLS requires a client certificate and its subject's common name is
//! the principal the ACLs see: confluent-kafka with carol's certificate may write the
//! topic carol is allowed to write; with mallory's certificate (same CA) it is refused
//! TOPIC_AUTHORIZATION_FAILED; without a certificate the TLS handshake fails.

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
use std::io::Write;

fn produce_one(pki: &Pki, broker: &str, who: &str) -> serde_json::Value {
    let (cert, key) = pki.client(who);
    let config = serde_json::json!({
        "bootstrap.servers": broker,
        "security.protocol": "SSL",
        "ssl.ca.location": pki.ca.to_str().unwrap(),
        "ssl.certificate.location": cert.to_str().unwrap(),
        "ssl.key.location": key.to_str().unwrap(),
    });
    run_python(&[
        script("secure_client.py").to_str().unwrap(),
        "produce-one",
        &config.to_string(),
        "certs",
    ])
}

#[test]
fn the_certificate_common_name_is_the_principal() {
    let pki = Pki::new();
    let security = SecurityOptions {
        tls: Some(pki.server_tls(true)),
        users: None,
        acls: Some(acls(
            "allow User:carol write topic certs\nallow User:* describe topic certs\n",
        )),
        plain_without_tls: false,
    };
    let server = start(security, ServerOptions::default());
    server.log.create_topic("certs", 1).unwrap();
    let broker = server.addr.to_string();
    let end = || server.log.partition_info("certs", 0).unwrap().end_offset.0;

    let carol = produce_one(&pki, &broker, "carol");
    assert_eq!(carol["delivery"], "ok", "{carol}");
    assert_eq!(end(), 1);

    let mallory = produce_one(&pki, &broker, "mallory");
    assert_eq!(
        mallory["delivery"], "TOPIC_AUTHORIZATION_FAILED",
        "{mallory}"
    );
    assert_eq!(end(), 1);

    // No client certificate: the server ends the handshake.
    let tcp = std::net::TcpStream::connect(server.addr).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let connection = rustls::ClientConnection::new(pki.client_tls(), name).unwrap();
    let mut stream = rustls::StreamOwned::new(connection, tcp);
    let sent = stream
        .write_all(&request(API_VERSIONS, 0, &[]))
        .and_then(|()| stream.flush());
    let answered = sent.is_ok() && read_response(&mut stream).is_some();
    assert!(!answered, "served without a client certificate");
}
