//! A producer with an idempotent resume: it appends batches stamped with its producer id,
//! epoch and sequence, "crashes" part-way (the log is dropped without a clean close and
//! the producer forgets which batches were acknowledged), and on restart simply sends
//! everything again. The log recognises the batches it already has
//! (`AppendOutcome::Duplicate`) and appends only the missing ones, so every record is in
//! the log exactly once.
//!
//! Run: `cargo run -p exactly-log --example idempotent_resume` (exits non-zero if a record
//! is missing or doubled).

use exactly_core::{Offset, ProducerEpoch, ProducerId, Sequence, Timestamp};
use exactly_log::{AppendOutcome, Log, LogConfig, ProducerStamp, Record};

const BATCHES: u64 = 10;
const RECORDS_PER_BATCH: u64 = 5;
/// Batches the first run gets through before it crashes.
const BATCHES_BEFORE_CRASH: u64 = 6;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let producer = (ProducerId(42), ProducerEpoch(0));

    let log = Log::open(dir.path(), LogConfig::default())?;
    log.create_topic("payments", 1)?;
    let first = send_batches(&log, producer, BATCHES_BEFORE_CRASH)?;
    drop(log); // a crash: no clean close, the producer's memory of acks is gone

    let log = Log::open(dir.path(), LogConfig::default())?;
    let second = send_batches(&log, producer, BATCHES)?;
    println!(
        "first run appended {} batches; the resumed run appended {} and recognised {} as duplicates",
        first.appended, second.appended, second.duplicates
    );

    // The oracle: the values this program meant to send, each once, in order.
    let expected: Vec<String> = (0..BATCHES * RECORDS_PER_BATCH)
        .map(|n| format!("payment-{n}"))
        .collect();
    let stored: Vec<String> = log
        .read("payments", 0, Offset(0), 10_000)?
        .into_iter()
        .map(|record| String::from_utf8_lossy(&record.value).into_owned())
        .collect();
    log.close()?;
    if stored != expected {
        return Err(format!(
            "log holds {} records, expected {}",
            stored.len(),
            expected.len()
        )
        .into());
    }
    if second.duplicates != BATCHES_BEFORE_CRASH {
        return Err(format!(
            "{} duplicates recognised, expected {BATCHES_BEFORE_CRASH}",
            second.duplicates
        )
        .into());
    }
    println!("ok: {} records, each exactly once", stored.len());
    Ok(())
}

#[derive(Default)]
struct Sent {
    appended: u64,
    duplicates: u64,
}

/// Sends batches `0..count`, each stamped with the sequence of its first record: the same
/// batch always carries the same stamp, which is what lets the log recognise a resend.
fn send_batches(
    log: &Log,
    (producer_id, epoch): (ProducerId, ProducerEpoch),
    count: u64,
) -> Result<Sent, Box<dyn std::error::Error>> {
    let mut sent = Sent::default();
    for batch in 0..count {
        let first = batch * RECORDS_PER_BATCH;
        let records: Vec<Record> = (first..first + RECORDS_PER_BATCH)
            .map(|n| Record {
                timestamp: Timestamp(1_000 + n as i64),
                key: Some(format!("account-{}", n % 3).into_bytes()),
                value: format!("payment-{n}").into_bytes(),
            })
            .collect();
        let stamp = ProducerStamp {
            producer_id,
            epoch,
            base_sequence: Sequence(first),
        };
        match log.append("payments", 0, &records, Some(stamp))? {
            AppendOutcome::Appended { .. } => sent.appended += 1,
            AppendOutcome::Duplicate { .. } => sent.duplicates += 1,
        }
    }
    Ok(sent)
}
