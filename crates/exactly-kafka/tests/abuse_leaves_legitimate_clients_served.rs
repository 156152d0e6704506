//! Network abuse against a server with TLS and SASL on, while confluent-kafka (a
//! legitimate client, SCRAM-SHA-256 over TLS) produces 1 000 records and consumes them
//! back: a flood of connections that never start TLS (more than `connections_max`,
//! reconnecting as soon as they are closed), connections that start a TLS handshake and
//! stall, connections that finish TLS, ask for SCRAM and stall, authenticated clients that
//! trickle a request a byte at a time (slow-loris), and authenticated clients announcing a
//! 2 GiB request. The limits (`handshake_timeout_ms`, `frame_timeout_ms`,
//! `request_bytes_max`, `connections_max`) close every abuser; the legitimate client gets
//! every record back. Oracles: the input, and the log read directly.

// Test helpers, not library code: a panic is the failure report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::secure;

use exactly_core::Offset;
use exactly_kafka::security::{SecurityCounters, SecurityOptions};
use exactly_kafka::ServerOptions;
use exactly_log::Isolation;
use secure::*;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CONNECTIONS_MAX: usize = 64;
const FLOOD: usize = 100;
const HANDSHAKE_TIMEOUT_MS: u64 = 2_000;
const FRAME_TIMEOUT_MS: u64 = 2_000;
const STALLED: usize = 10;
const RECORDS: usize = 1_000;

/// Keeps `FLOOD` idle TCP connections open (never a byte sent), reconnecting each one the
/// server closes; counts the closes.
fn flood(addr: SocketAddr, stop: Arc<AtomicBool>, closed: Arc<AtomicU64>) {
    let open = || {
        let stream = TcpStream::connect(addr).ok()?;
        stream.set_nonblocking(true).ok()?;
        Some(stream)
    };
    let mut streams: Vec<Option<TcpStream>> = (0..FLOOD).map(|_| open()).collect();
    let mut byte = [0u8; 1];
    while !stop.load(Ordering::Relaxed) {
        for slot in streams.iter_mut() {
            let gone = match slot {
                None => true,
                // Still open while a read would block; an end or an error is a close.
                Some(stream) => !matches!(
                    stream.read(&mut byte),
                    Err(e) if e.kind() == ErrorKind::WouldBlock
                ),
            };
            if gone {
                if slot.is_some() {
                    closed.fetch_add(1, Ordering::Relaxed);
                }
                *slot = open();
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Blocks until the server closes `stream` (a read sees the end or an error); how long
/// that took.
fn time_to_close(stream: &mut dyn Stream) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 64];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return started.elapsed(),
            Ok(_) => {}
        }
    }
}

/// A TLS record header announcing a 512-byte handshake message, 10 bytes of it, then
/// silence.
fn stalled_tls(addr: SocketAddr) -> Duration {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03])
        .unwrap();
    let mut boxed: Box<dyn Stream> = Box::new(stream);
    time_to_close(boxed.as_mut())
}

/// TLS finished, SCRAM asked for, then silence.
fn stalled_sasl(addr: SocketAddr, pki: &Pki) -> Duration {
    let mut stream = connect_tls(addr, pki.client_tls());
    stream
        .write_all(&request(SASL_HANDSHAKE, 1, &string("SCRAM-SHA-256")))
        .unwrap();
    read_response(stream.as_mut()).expect("handshake answered");
    time_to_close(stream.as_mut())
}

/// Authenticated, then a 1 000-byte request one byte every 100 ms (100 s if let be): how
/// long until the server closes the connection.
fn slow_loris(addr: SocketAddr, pki: &Pki) -> Duration {
    let mut stream = connect_tls(addr, pki.client_tls());
    assert_eq!(plain_login(stream.as_mut(), "alice", "alice-pw"), 0);
    let mut frame = 1000i32.to_be_bytes().to_vec();
    frame.resize(4 + 1000, 0);
    let started = Instant::now();
    for byte in &frame {
        if stream
            .write_all(&[*byte])
            .and_then(|()| stream.flush())
            .is_err()
        {
            return started.elapsed();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "the server let a request trickle in for {:?}",
        started.elapsed()
    );
}

/// TLS finished, not authenticated, then a size prefix of 1 MiB (under
/// `request_bytes_max`, over `unauthenticated_request_bytes_max`): closed at once.
fn oversized_before_sasl(addr: SocketAddr, pki: &Pki) -> Duration {
    let mut stream = connect_tls(addr, pki.client_tls());
    stream.write_all(&(1i32 << 20).to_be_bytes()).unwrap();
    stream.flush().unwrap();
    time_to_close(stream.as_mut())
}

/// Authenticated, then a size prefix of 2 GiB - 1: closed before anything is allocated.
fn oversized(addr: SocketAddr, pki: &Pki) -> Duration {
    let mut stream = connect_tls(addr, pki.client_tls());
    assert_eq!(plain_login(stream.as_mut(), "alice", "alice-pw"), 0);
    stream.write_all(&i32::MAX.to_be_bytes()).unwrap();
    stream.flush().unwrap();
    time_to_close(stream.as_mut())
}

#[test]
fn abusers_are_closed_and_a_legitimate_client_is_served() {
    let pki = Pki::new();
    let security = SecurityOptions {
        tls: Some(pki.server_tls(false)),
        users: Some(users(pki.dir.path(), &[("alice", "alice-pw")])),
        acls: None,
        plain_without_tls: false,
    };
    let options = ServerOptions {
        connections_max: CONNECTIONS_MAX,
        handshake_timeout_ms: HANDSHAKE_TIMEOUT_MS,
        frame_timeout_ms: FRAME_TIMEOUT_MS,
        ..ServerOptions::default()
    };
    let server = start(security, options);
    let addr = server.addr;
    let pki = Arc::new(pki);
    let stop = Arc::new(AtomicBool::new(false));
    let flood_closed = Arc::new(AtomicU64::new(0));
    let flooder = {
        let (stop, closed) = (stop.clone(), flood_closed.clone());
        std::thread::spawn(move || flood(addr, stop, closed))
    };
    // Let the flood fill every slot before anyone else arrives.
    std::thread::sleep(Duration::from_millis(500));
    let mut abusers = Vec::new();
    for _ in 0..STALLED {
        let p = pki.clone();
        abusers.push(("stalled TLS", std::thread::spawn(move || stalled_tls(addr))));
        abusers.push((
            "stalled SASL",
            std::thread::spawn(move || stalled_sasl(addr, &p)),
        ));
    }
    for _ in 0..3 {
        let (p, q) = (pki.clone(), pki.clone());
        abusers.push((
            "slow-loris",
            std::thread::spawn(move || slow_loris(addr, &p)),
        ));
        abusers.push(("oversized", std::thread::spawn(move || oversized(addr, &q))));
        let r = pki.clone();
        abusers.push((
            "oversized before SASL",
            std::thread::spawn(move || oversized_before_sasl(addr, &r)),
        ));
    }

    let config = serde_json::json!({
        "bootstrap.servers": addr.to_string(),
        "security.protocol": "SASL_SSL",
        "sasl.mechanisms": "SCRAM-SHA-256",
        "sasl.username": "alice",
        "sasl.password": "alice-pw",
        "ssl.ca.location": pki.ca.to_str().unwrap(),
    });
    let records = RECORDS.to_string();
    let result = run_python(&[
        script("secure_client.py").to_str().unwrap(),
        "round-trip",
        &config.to_string(),
        "legit",
        &records,
        "legit-group",
    ]);
    assert_eq!(result["produce_errors"], serde_json::json!([]), "{result}");
    let consumed: Vec<(String, String, i64)> =
        serde_json::from_value(result["consumed"].clone()).unwrap();
    let wanted: Vec<(String, String, i64)> = (0..RECORDS)
        .map(|i| (format!("k{i}"), format!("v{i}"), i as i64))
        .collect();
    assert_eq!(consumed, wanted);
    let stored = server
        .log
        .read_with(
            "legit",
            0,
            Offset(0),
            10 * RECORDS,
            Isolation::ReadCommitted,
        )
        .unwrap();
    assert_eq!(stored.records.len(), RECORDS);

    // Every abuser was closed, each within its limit plus slack for the shared machine.
    // (The stalled ones may first wait in the accept queue behind the flood, which the
    // handshake timeout drains: their bound counts that wait too.)
    let queue_wait_ms = HANDSHAKE_TIMEOUT_MS * (FLOOD.div_ceil(CONNECTIONS_MAX) as u64 + 1);
    for (kind, abuser) in abusers {
        let took = abuser.join().unwrap();
        let bound_ms = match kind {
            "stalled TLS" => HANDSHAKE_TIMEOUT_MS + queue_wait_ms,
            "stalled SASL" => HANDSHAKE_TIMEOUT_MS,
            "slow-loris" => FRAME_TIMEOUT_MS,
            _ => 0, // oversized: at once
        };
        assert!(
            took <= Duration::from_millis(bound_ms + 3_000),
            "{kind} closed after {took:?} (limit {bound_ms} ms)"
        );
    }
    stop.store(true, Ordering::Relaxed);
    flooder.join().unwrap();
    let timeouts = SecurityCounters::get(&server.counters.handshake_timeouts);
    let closed = flood_closed.load(Ordering::Relaxed);
    eprintln!("flood connections closed: {closed}; handshake timeouts: {timeouts}");
    assert!(closed >= FLOOD as u64, "the flood was drained: {closed}");
    assert!(timeouts >= closed + 2 * STALLED as u64, "timeouts counted");
}
