//! Fault injection on the wire: a size prefix over the limit, frames of random bytes
//! (seeded, `EXACTLY_SEED` replays, `EXACTLY_KAFKA_FRAMES` runs more), and a produce
//! request whose record batch fails its CRC. Each bad connection is closed (or answered
//! with an error code) and the server keeps serving others: after every case a fresh
//! connection's ApiVersions request is answered, and the corrupt batch left the log
//! empty (checked with a kcat consumer).

use crate::common;

use common::ServerProc;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

#[test]
fn server_child() {
    common::serve_child_if_asked();
}

fn connect(addr: &str) -> Result<TcpStream, Box<dyn std::error::Error>> {
    let stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    Ok(stream)
}

/// A response frame (without its size), or `None` when the server closed the connection.
fn read_frame(stream: &mut TcpStream) -> Result<Option<Vec<u8>>, Box<dyn std::error::Error>> {
    let mut size = [0u8; 4];
    match stream.read_exact(&mut size) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let mut frame = vec![0u8; i32::from_be_bytes(size) as usize];
    stream.read_exact(&mut frame)?;
    Ok(Some(frame))
}

fn api_versions_answered(addr: &str) -> Result<(), Box<dyn std::error::Error>> {
    let mut stream = connect(addr)?;
    // ApiVersions v0: key 18, version 0, correlation id 77, null client id.
    let request = [0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 77, 0xFF, 0xFF];
    stream.write_all(&request)?;
    let frame = read_frame(&mut stream)?.ok_or("ApiVersions not answered")?;
    assert_eq!(frame.get(..4), Some(77i32.to_be_bytes().as_slice()));
    assert_eq!(frame.get(4..6), Some([0u8, 0].as_slice()), "error code 0");
    Ok(())
}

#[test]
fn bad_input_closes_only_its_connection() -> Result<(), Box<dyn std::error::Error>> {
    let seed = exactly_testkit::cli::seed_from_env();
    let frames: u32 = exactly_testkit::cli::env_or("EXACTLY_KAFKA_FRAMES", 200);
    println!("seed {seed}, frames {frames}");
    let mut rng = SmallRng::seed_from_u64(seed);
    let dir = tempfile::tempdir()?;
    let server = ServerProc::start(
        "malformed_requests_close_only_their_connection::server_child",
        dir.path(),
        "127.0.0.1:0",
    )?;
    let addr = server.addr.clone();
    api_versions_answered(&addr)?;

    // A size prefix of 2 GiB - 1: refused before anything is allocated.
    let mut stream = connect(&addr)?;
    stream.write_all(&i32::MAX.to_be_bytes())?;
    assert!(
        read_frame(&mut stream)?.is_none(),
        "oversized request not refused"
    );
    api_versions_answered(&addr)?;

    // Random frames: random API keys and versions, random bodies.
    for _ in 0..frames {
        let mut stream = connect(&addr)?;
        let len = rng.random_range(0..200usize);
        let mut frame: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        if let Some(key) = frame.get_mut(0..2) {
            key.copy_from_slice(&rng.random_range(-2i16..70).to_be_bytes());
        }
        let mut bytes = (len as i32).to_be_bytes().to_vec();
        bytes.extend_from_slice(&frame);
        stream.write_all(&bytes)?;
        // Answered or closed; either way the server goes on.
        let _ = read_frame(&mut stream);
    }
    api_versions_answered(&addr)?;

    // A produce request whose batch fails its CRC: refused with CORRUPT_MESSAGE.
    let mut batch = Vec::new();
    let record = exactly_log::StoredRecord {
        offset: exactly_core::Offset(0),
        timestamp: exactly_core::Timestamp(1),
        key: None,
        value: b"damaged".to_vec(),
    };
    exactly_kafka::record_batch::encode_batches(&[record], &mut batch)?;
    if let Some(last) = batch.last_mut() {
        *last ^= 0xFF;
    }
    // Produce v3 by hand (header v1, no flexible fields): the byte layout is the spec's.
    let topic = b"faults";
    let mut body = Vec::new();
    body.extend_from_slice(&0i16.to_be_bytes()); // api key: Produce
    body.extend_from_slice(&3i16.to_be_bytes()); // version
    body.extend_from_slice(&5i32.to_be_bytes()); // correlation id
    body.extend_from_slice(&(-1i16).to_be_bytes()); // client id: null
    body.extend_from_slice(&(-1i16).to_be_bytes()); // transactional id: null
    body.extend_from_slice(&(-1i16).to_be_bytes()); // acks: all
    body.extend_from_slice(&5000i32.to_be_bytes()); // timeout
    body.extend_from_slice(&1i32.to_be_bytes()); // one topic
    body.extend_from_slice(&(topic.len() as i16).to_be_bytes());
    body.extend_from_slice(topic);
    body.extend_from_slice(&1i32.to_be_bytes()); // one partition
    body.extend_from_slice(&0i32.to_be_bytes()); // partition 0
    body.extend_from_slice(&(batch.len() as i32).to_be_bytes());
    body.extend_from_slice(&batch);
    // The topic must exist for the batch to be looked at: kcat creates it (auto-creation).
    let created = std::process::Command::new("kcat")
        .args(["-L", "-b", &addr, "-t", "faults"])
        .output()
        .map_err(|e| format!("kcat could not start (run .ci/setup-kafka): {e}"))?;
    assert!(created.status.success());
    let mut stream = connect(&addr)?;
    let mut bytes = (body.len() as i32).to_be_bytes().to_vec();
    bytes.extend_from_slice(&body);
    stream.write_all(&bytes)?;
    let frame = read_frame(&mut stream)?.ok_or("produce not answered")?;
    // correlation id, one topic, its name, one partition, its index, then the error code.
    let at = 4 + 4 + 2 + topic.len() + 4 + 4;
    let code = frame
        .get(at..at + 2)
        .map(|b| i16::from_be_bytes([b[0], b[1]]));
    assert_eq!(code, Some(2), "CORRUPT_MESSAGE");
    let consumed = std::process::Command::new("kcat")
        .args(["-C", "-b", &addr, "-t", "faults", "-e", "-q"])
        .output()?;
    assert!(consumed.stdout.is_empty(), "the damaged batch was stored");
    api_versions_answered(&addr)?;
    Ok(())
}
