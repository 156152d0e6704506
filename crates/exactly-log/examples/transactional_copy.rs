//! A transactional copy (consume-transform-produce): each round reads input records from
//! the group's committed position, writes the transformed records and the group's new
//! position in ONE transaction, and commits. A copier that dies mid-transaction leaves
//! nothing visible: the next copier (same transactional id) fences it, the open
//! transaction is aborted, and the copy resumes from the last committed position, so a
//! `read_committed` reader sees every input record transformed exactly once.
//!
//! Run: `cargo run -p exactly-log --example transactional_copy` (exits non-zero if an
//! output is missing or doubled).

use exactly_core::{Offset, Timestamp};
use exactly_log::{Isolation, Log, LogConfig, Record};

const INPUT_RECORDS: u64 = 30;
const RECORDS_PER_TRANSACTION: usize = 4;
const GROUP: &str = "copier";
const TRANSACTIONAL_ID: &str = "copy-orders";
const TIMEOUT_MS: i64 = 60_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let log = Log::open(dir.path(), LogConfig::default())?;
    log.create_topic("orders", 1)?;
    log.create_topic("orders-upper", 1)?;
    let input: Vec<Record> = (0..INPUT_RECORDS)
        .map(|n| Record {
            timestamp: Timestamp(n as i64),
            key: None,
            value: format!("order-{n}").into_bytes(),
        })
        .collect();
    log.append("orders", 0, &input, None)?;

    // The first copier commits two transactions, then dies with a third one open.
    {
        let mut producer = log.transactional_producer(TRANSACTIONAL_ID, TIMEOUT_MS)?;
        copy_round(&log, &mut producer)?;
        copy_round(&log, &mut producer)?;
        producer.begin()?;
        let first = input.first().ok_or("no input")?;
        producer.send("orders-upper", 0, &[upper(first)])?;
        // Dropped here without commit: a crash with the transaction open.
    }
    // The restarted copier fences the dead one (its open transaction is aborted) and
    // copies until the input is exhausted.
    let mut producer = log.transactional_producer(TRANSACTIONAL_ID, TIMEOUT_MS)?;
    let mut rounds = 0;
    while copy_round(&log, &mut producer)? > 0 {
        rounds += 1;
    }
    println!("restarted copier committed {rounds} more transactions");

    // The oracle: the input, upper-cased, each once, in order.
    let expected: Vec<String> = (0..INPUT_RECORDS).map(|n| format!("ORDER-{n}")).collect();
    let batch = log.read_with(
        "orders-upper",
        0,
        Offset(0),
        10_000,
        Isolation::ReadCommitted,
    )?;
    let copied: Vec<String> = batch
        .records
        .iter()
        .map(|r| String::from_utf8_lossy(&r.value).into_owned())
        .collect();
    if copied != expected {
        return Err(format!("read_committed sees {copied:?}, expected {expected:?}").into());
    }
    let position = committed_position(&log)?;
    if position != Offset(INPUT_RECORDS) {
        return Err(format!("group position {position:?}, expected {INPUT_RECORDS}").into());
    }
    println!("ok: {} records copied exactly once", copied.len());
    drop(producer);
    log.close()?;
    Ok(())
}

/// One transaction: up to `RECORDS_PER_TRANSACTION` records from the group's position,
/// upper-cased, with the new position. Returns how many records it copied.
fn copy_round(
    log: &Log,
    producer: &mut exactly_log::TransactionalProducer<'_>,
) -> Result<usize, Box<dyn std::error::Error>> {
    let from = committed_position(log)?;
    let batch = log.read_with(
        "orders",
        0,
        from,
        RECORDS_PER_TRANSACTION,
        Isolation::ReadCommitted,
    )?;
    if batch.records.is_empty() {
        return Ok(0);
    }
    let outputs: Vec<Record> = batch
        .records
        .iter()
        .map(|r| {
            upper(&Record {
                timestamp: r.timestamp,
                key: r.key.clone(),
                value: r.value.clone(),
            })
        })
        .collect();
    producer.begin()?;
    producer.send("orders-upper", 0, &outputs)?;
    producer.add_offsets(GROUP, &[("orders".to_string(), 0, batch.next_offset)])?;
    producer.commit()?;
    Ok(outputs.len())
}

fn upper(record: &Record) -> Record {
    Record {
        timestamp: record.timestamp,
        key: record.key.clone(),
        value: String::from_utf8_lossy(&record.value)
            .to_uppercase()
            .into_bytes(),
    }
}

/// The next input offset the group copies from (0 before its first commit).
fn committed_position(log: &Log) -> Result<Offset, Box<dyn std::error::Error>> {
    let positions = log.committed_offsets(GROUP)?;
    Ok(match positions.get(&("orders".to_string(), 0)) {
        Some(offset) => *offset,
        None => Offset(0), // nothing committed yet: the copy starts at the beginning
    })
}
