//! `exactly log consume --format json|raw|table` over records of every shape: JSON
//! documents, plain text, text that looks like JSON strings or `null`, binary keys and
//! values, Kafka headers and tombstones. The oracle is the bytes this test put in the log:
//! each output is parsed back and must give exactly those bytes, JSON documents must print
//! as JSON (not as strings holding JSON), and nothing may be ambiguous.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // Tests fail by panicking.

use exactly_core::Timestamp;
use exactly_kafka::envelope::{self, Payload};
use exactly_log::{Log, LogConfig, Record};
use rand::{Rng, SeedableRng};
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};

/// What the test stored in one record, and what a reader must get back.
#[derive(Debug, Clone)]
struct Expected {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>, // None: a tombstone
    headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

fn random_value(rng: &mut impl Rng, i: usize) -> Vec<u8> {
    match rng.random_range(0..9) {
        0 => format!("{{\"id\":{i},\"to\":\"acct-{}\"}}", rng.random_range(0..9)).into_bytes(),
        1 => format!("[{i},true,null]").into_bytes(),
        2 => rng.random_range(-1000i64..1000).to_string().into_bytes(),
        3 => format!("plain text {i} with \"quotes\" and \\ tab\t").into_bytes(),
        4 => format!("\"a JSON string {i}\"").into_bytes(),
        5 => b"null".to_vec(),
        6 => format!("{{\"broken\": {i}").into_bytes(), // not JSON: text
        7 => (0..rng.random_range(1..12))
            .map(|_| rng.random::<u8>() | 0x80)
            .collect(), // binary
        _ => "ünïcödé ✓".as_bytes().to_vec(),
    }
}

fn random_key(rng: &mut impl Rng, i: usize) -> Option<Vec<u8>> {
    match rng.random_range(0..4) {
        0 => None,
        1 => Some(vec![0xff, 0xfe, i as u8]),
        _ => Some(format!("key-{i}").into_bytes()),
    }
}

fn stored_records(seed: u64) -> Vec<Expected> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut records: Vec<Expected> = (0..200)
        .map(|i| Expected {
            key: random_key(&mut rng, i),
            value: Some(random_value(&mut rng, i)),
            headers: Vec::new(),
        })
        .collect();
    // Kafka records as `exactly serve` stores them: headers, a tombstone.
    records.push(Expected {
        key: Some(b"k".to_vec()),
        value: Some(b"{\"with\":\"headers\"}".to_vec()),
        headers: vec![
            (b"trace".to_vec(), Some(b"abc".to_vec())),
            (b"bin".to_vec(), Some(vec![0xff])),
            (b"none".to_vec(), None),
        ],
    });
    records.push(Expected {
        key: Some(b"deleted".to_vec()),
        value: None,
        headers: Vec::new(),
    });
    records
}

fn write_log(dir: &Path, records: &[Expected]) {
    let log = Log::open(dir, LogConfig::default()).unwrap();
    log.create_topic("t", 1).unwrap();
    let stored: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, r)| Record {
            timestamp: Timestamp(i as i64),
            key: r.key.clone(),
            value: envelope::wrap(&Payload {
                value: r.value.clone(),
                headers: r.headers.clone(),
            }),
        })
        .collect();
    log.append("t", 0, &stored, None).unwrap();
    log.close().unwrap();
}

fn consume(dir: &Path, args: &[&str]) -> Vec<u8> {
    let output = Command::new(env!("CARGO_BIN_EXE_exactly"))
        .args(["log", "consume", "--topic", "t", "--dir"])
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// The bytes a `key`/`value` field (or its `_hex` twin) stands for; `None` for JSON null.
fn field_bytes(fields: &HashMap<String, Box<RawValue>>, name: &str) -> Option<Vec<u8>> {
    if let Some(hex) = fields.get(&format!("{name}_hex")) {
        assert!(
            !fields.contains_key(name),
            "{name} and {name}_hex both present"
        );
        return Some(unhex(&serde_json::from_str::<String>(hex.get()).unwrap()));
    }
    let raw = fields
        .get(name)
        .unwrap_or_else(|| panic!("no {name}"))
        .get();
    match raw {
        "null" => None,
        _ if raw.starts_with('"') => {
            Some(serde_json::from_str::<String>(raw).unwrap().into_bytes())
        }
        _ => Some(raw.as_bytes().to_vec()),
    }
}

fn is_json_document(bytes: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return false;
    };
    !text.starts_with('"')
        && text != "null"
        && !text.contains('\n')
        && text.trim() == text
        && serde_json::from_str::<serde_json::Value>(text).is_ok()
}

fn check_json(output: &[u8], expected: &[Expected]) {
    let text = String::from_utf8(output.to_vec()).expect("JSON output is UTF-8");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), expected.len());
    for (i, (line, want)) in lines.iter().zip(expected).enumerate() {
        let fields: HashMap<String, Box<RawValue>> = serde_json::from_str(line).unwrap();
        assert_eq!(fields["offset"].get(), i.to_string());
        assert_eq!(field_bytes(&fields, "key"), want.key, "key of {line}");
        assert_eq!(field_bytes(&fields, "value"), want.value, "value of {line}");
        if let Some(value) = &want.value {
            let as_json = fields
                .get("value")
                .is_some_and(|v| !v.get().starts_with('"'));
            assert_eq!(
                as_json,
                is_json_document(value),
                "JSON shown as JSON: {line}"
            );
        }
        let headers: Vec<serde_json::Value> = match fields.get("headers") {
            Some(raw) => serde_json::from_str(raw.get()).unwrap(),
            None => Vec::new(),
        };
        let got: Vec<(Vec<u8>, Option<Vec<u8>>)> = headers
            .chunks(2)
            .map(|pair| (header_bytes(&pair[0]).unwrap(), header_bytes(&pair[1])))
            .collect();
        assert_eq!(got, want.headers, "headers of {line}");
    }
}

fn header_bytes(value: &serde_json::Value) -> Option<Vec<u8>> {
    match value {
        serde_json::Value::Null => None,
        serde_json::Value::String(text) => Some(text.clone().into_bytes()),
        other => Some(unhex(other["hex"].as_str().unwrap())),
    }
}

#[test]
fn every_format_gives_back_the_stored_bytes() {
    let seed = exactly_testkit::cli::seed_from_env();
    println!("seed {seed} (EXACTLY_SEED={seed} replays)");
    let dir = tempfile::tempdir().unwrap();
    let expected = stored_records(seed);
    write_log(dir.path(), &expected);

    check_json(&consume(dir.path(), &[]), &expected);
    check_json(&consume(dir.path(), &["--format", "json"]), &expected);

    // raw, as kcat -K '\t' -D '\x1e' -u would print it: key, tab, value, separator.
    let raw = consume(
        dir.path(),
        &[
            "--format",
            "raw",
            "--key-delimiter",
            "\\t",
            "--delimiter",
            "\u{1e}",
        ],
    );
    let mut want = Vec::new();
    for record in &expected {
        want.extend(record.key.clone().unwrap_or_default());
        want.push(b'\t');
        want.extend(record.value.clone().unwrap_or_default());
        want.push(0x1e);
    }
    assert_eq!(raw, want, "raw output is key TAB value RS per record");

    // table: a header, then one line per record naming its offset and key.
    let table = String::from_utf8(consume(dir.path(), &["--format", "table"])).unwrap();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines.len(),
        expected.len() + 1,
        "one line per record plus the header"
    );
    assert!(lines[0].starts_with("PARTITION") && lines[0].ends_with("VALUE"));
    for (i, (line, record)) in lines[1..].iter().zip(&expected).enumerate() {
        let columns: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(columns[..2], ["0", &i.to_string()], "{line}");
        if record.value.is_none() {
            assert!(line.contains("NULL"), "tombstone shown: {line}");
        }
    }

    // The delimiters belong to raw output only.
    let refused = Command::new(env!("CARGO_BIN_EXE_exactly"))
        .args([
            "log",
            "consume",
            "--topic",
            "t",
            "--key-delimiter",
            ":",
            "--dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!refused.status.success());
}
