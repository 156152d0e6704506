//! A windowed aggregation: readings of sensors summed per sensor per tumbling one-second
//! event-time window. A window is written once, when the job's clock (the minimum
//! timestamp its sources may still emit) passes the window's end; the run ends with its
//! input, closing the windows still open.
//!
//! Run: `cargo run -p exactly-engine --example windowed_aggregation` (exits non-zero if a
//! window is missing, doubled or has another sum than the one computed from the input).

use exactly_core::{Offset, Timestamp};
use exactly_engine::{log_topic, Guarantee, Job, RunOptions, SourceRecord, Windowed};
use exactly_log::{Isolation, Log, LogConfig, Record};
use exactly_state::{LatePolicy, Sum, WindowAssigner};
use std::collections::BTreeMap;

const WINDOW_MS: i64 = 1_000;
const SENSORS: u64 = 5;
const READINGS: u64 = 2_000;

fn job() -> Job {
    Job::new("sensor-windows")
        .source(log_topic("readings"))
        .try_flat_map(|record: SourceRecord| {
            let sensor = record
                .key
                .as_deref()
                .ok_or("a reading needs its sensor as key")?;
            let sensor = String::from_utf8(sensor.to_vec()).map_err(|e| e.to_string())?;
            let text = std::str::from_utf8(&record.value).map_err(|e| e.to_string())?;
            let reading: i128 = text.parse().map_err(|e| format!("{text:?}: {e}"))?;
            Ok::<_, String>([(sensor, reading)])
        })
        .key_by(|(sensor, _)| sensor.clone())
        .window_aggregate(
            Sum,
            WindowAssigner::Tumbling { size_ms: WINDOW_MS },
            LatePolicy::Drop,
        )
        .sink(log_topic("sensor-sums"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let log = Log::open(dir.path(), LogConfig::default())?;
    log.create_topic("readings", 2)?;
    // The oracle: (sensor, window start) → sum, computed straight from the input.
    let mut reference: BTreeMap<(String, i64), i128> = BTreeMap::new();
    for n in 0..READINGS {
        let sensor = format!("sensor-{}", n % SENSORS);
        let timestamp_ms = 1_700_000_000_000 + (n as i64) * 7; // in order per partition
        let reading = ((n * 31) % 100) as i128 - 50;
        let start = timestamp_ms - timestamp_ms.rem_euclid(WINDOW_MS);
        *reference.entry((sensor.clone(), start)).or_default() += reading;
        let record = Record {
            timestamp: Timestamp(timestamp_ms),
            key: Some(sensor.clone().into_bytes()),
            value: reading.to_string().into_bytes(),
        };
        let partition = exactly_log::partition_for_key(sensor.as_bytes(), 2);
        log.append("readings", partition, &[record], None)?;
    }

    let job = job();
    let mut options = RunOptions::new(&log, &job, Guarantee::ExactlyOnce);
    options.parallelism = 2;
    options.checkpoint_every_records = Some(250);
    let report = job.run(&log, &options)?;
    println!(
        "{} readings in, {} windows out",
        report.records_in, report.records_out
    );

    let mut got: BTreeMap<(String, i64), i128> = BTreeMap::new();
    for window in read_windows(&log, "sensor-sums")? {
        if window.end_ms - window.start_ms != WINDOW_MS {
            return Err(format!("window {window:?} is not {WINDOW_MS} ms").into());
        }
        if got
            .insert((window.key.clone(), window.start_ms), window.value)
            .is_some()
        {
            return Err(format!("window {window:?} written twice").into());
        }
    }
    if got != reference {
        return Err(format!(
            "{} windows written, {} expected, or sums differ",
            got.len(),
            reference.len()
        )
        .into());
    }
    println!("ok: {} windows, each once with its exact sum", got.len());
    Ok(())
}

/// Every committed window of `topic`, read with read_committed.
fn read_windows(
    log: &Log,
    topic: &str,
) -> Result<Vec<Windowed<String, i128>>, Box<dyn std::error::Error>> {
    let mut windows = Vec::new();
    let partitions = log.partition_count(topic).ok_or("no output topic")?;
    for partition in 0..partitions {
        let end = log.partition_info(topic, partition)?.last_stable_offset;
        let mut from = Offset(0);
        while from < end {
            let batch = log.read_with(topic, partition, from, 1_000, Isolation::ReadCommitted)?;
            for record in &batch.records {
                windows.push(serde_json::from_slice(&record.value)?);
            }
            from = batch.next_offset;
        }
    }
    Ok(windows)
}
