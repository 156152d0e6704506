//! kcat (librdkafka) produces 100 000 keyed records with headers — a quarter with each
//! compression codec (gzip, snappy, lz4, zstd) — and consumes them back; `kcat -L` lists
//! the topic. The oracle is the input itself: every key, value and header comes back once,
//! in order, at dense offsets, with timestamps from the produce window.

use crate::common;

use common::ServerProc;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

const RECORDS: usize = 100_000;
const CODECS: [&str; 4] = ["gzip", "snappy", "lz4", "zstd"];

#[test]
fn server_child() {
    common::serve_child_if_asked();
}

fn now_ms() -> Result<i64, Box<dyn std::error::Error>> {
    Ok(i64::try_from(
        SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis(),
    )?)
}

fn kcat(args: &[&str], input: Option<&[u8]>) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let mut child = Command::new("kcat")
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("kcat could not start (run .ci/setup-kafka): {e}"))?;
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin.write_all(input)?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(format!(
            "kcat {args:?} failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(out.stdout)
}

#[test]
fn kcat_produces_and_consumes_100k_records() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let server = ServerProc::start("kcat_round_trip::server_child", dir.path(), "127.0.0.1:0")?;
    let broker = server.addr.as_str();
    let topic = "kcat-round-trip";
    let before_ms = now_ms()?;
    let per_codec = RECORDS / CODECS.len();
    for (c, codec) in CODECS.iter().enumerate() {
        let input: String = (c * per_codec..(c + 1) * per_codec)
            .map(|i| format!("key-{i}\tvalue-{i}-{}\n", "x".repeat(i % 50)))
            .collect();
        let header = format!("codec={codec}");
        kcat(
            &[
                "-P",
                "-b",
                broker,
                "-t",
                topic,
                "-K",
                "\t",
                "-H",
                &header,
                "-H",
                "fixed=1",
                "-z",
                codec,
                "-X",
                "enable.idempotence=true",
            ],
            Some(input.as_bytes()),
        )?;
    }
    let after_ms = now_ms()?;
    let consumed = kcat(
        &[
            "-C",
            "-b",
            broker,
            "-t",
            topic,
            "-o",
            "beginning",
            "-e",
            "-c",
            &RECORDS.to_string(),
            "-f",
            "%o\t%k\t%s\t%h\t%T\n",
        ],
        None,
    )?;
    let consumed = String::from_utf8(consumed)?;
    let lines: Vec<&str> = consumed.lines().collect();
    assert_eq!(lines.len(), RECORDS, "every record comes back once");
    for (i, line) in lines.iter().enumerate() {
        let fields: Vec<&str> = line.split('\t').collect();
        let codec = CODECS
            .get(i / per_codec)
            .ok_or("record index past the codecs")?;
        let expected_value = format!("value-{i}-{}", "x".repeat(i % 50));
        let expected_headers = format!("codec={codec},fixed=1");
        assert_eq!(
            fields.get(..4),
            Some(
                [
                    i.to_string().as_str(),
                    format!("key-{i}").as_str(),
                    expected_value.as_str(),
                    expected_headers.as_str()
                ]
                .as_slice()
            ),
            "record {i}"
        );
        let timestamp: i64 = fields.get(4).ok_or("no timestamp")?.parse()?;
        assert!(
            (before_ms..=after_ms).contains(&timestamp),
            "record {i}: timestamp {timestamp} outside the produce window"
        );
    }
    let listing = String::from_utf8(kcat(&["-L", "-b", broker, "-t", topic], None)?)?;
    assert!(
        listing.contains(&format!("topic \"{topic}\" with 1 partitions")),
        "{listing}"
    );
    assert!(listing.contains("partition 0, leader 0"), "{listing}");
    Ok(())
}
