//! Durable appends by concurrent producers, counted per segment `fdatasync`, and the CPU
//! cost of idempotence.

use crate::counting::CountingStorage;
use crate::error::{BenchError, Context};
use exactly_core::{ProducerEpoch, ProducerId, Sequence, SystemClock, Timestamp};
use exactly_log::batch::EncodedBatch;
use exactly_log::{Durability, Log, LogConfig, ProducerStamp, Record};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One measured round.
pub(super) struct Measurement {
    pub(super) name: String,
    pub(super) records: u64,
    pub(super) bytes: u64,
    pub(super) elapsed: Duration,
    /// Segment bytes per fdatasync (durable appends and raw writes).
    pub(super) bytes_per_sync: Option<f64>,
    /// Filled in on the median only: every round's MB/s.
    pub(super) rounds_mb_per_sec: Vec<f64>,
}

impl Measurement {
    pub(super) fn mb_per_sec(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.elapsed.as_secs_f64().max(1e-9)
    }
    pub(super) fn records_per_sec(&self) -> f64 {
        self.records as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// One measured configuration of durable appends.
#[derive(Clone, Copy, Debug)]
pub(super) struct Config {
    pub(super) record_bytes: usize,
    pub(super) producers: usize,
    pub(super) idempotent: bool,
}

impl Config {
    /// Short description for progress messages.
    pub(super) fn label(&self) -> String {
        let mode = if self.idempotent {
            "idempotent"
        } else {
            "plain"
        };
        format!("append {} B x{} {mode}", self.record_bytes, self.producers)
    }
}

fn make_records(record_bytes: usize, count: usize) -> Vec<Record> {
    (0..count)
        .map(|i| Record {
            timestamp: Timestamp(i as i64),
            key: None,
            value: vec![(i % 251) as u8; record_bytes],
        })
        .collect()
}

/// `config.producers` threads append batches of `batch_bytes` to one partition with
/// `durability` until the budget is spent; segment writes and syncs are counted.
pub(super) fn appends(
    dir: &Path,
    config: Config,
    batch_bytes: usize,
    budget: Duration,
    durability: Durability,
    evidence: bool,
) -> Result<Measurement, BenchError> {
    let Config {
        record_bytes,
        producers,
        idempotent,
    } = config;
    let log_config = LogConfig {
        durability,
        segment_bytes_max: 512 << 20,
        durable_end_evidence: evidence,
        ..LogConfig::default()
    };
    let storage = Arc::new(CountingStorage::default());
    let counters = Arc::clone(&storage.counters);
    let log = Log::open_with(storage, Arc::new(SystemClock), dir, log_config)
        .during("opening the log")?;
    log.create_topic("bench", 1).during("creating the topic")?;
    let log = Arc::new(log);
    // Segment bytes written before the measurement (topic creation) are not appends.
    let syncs_before = counters.syncs.load(std::sync::atomic::Ordering::Relaxed);
    let bytes_before = counters
        .bytes_written
        .load(std::sync::atomic::Ordering::Relaxed);
    let per_batch = (batch_bytes / record_bytes).max(1);
    let records = make_records(record_bytes, per_batch);
    let started = Instant::now();
    let mut threads = Vec::new();
    for producer in 0..producers {
        let log = Arc::clone(&log);
        let records = records.clone();
        threads.push(std::thread::spawn(move || -> Result<u64, BenchError> {
            let mut sequence = 0u64;
            let mut appended = 0u64;
            while started.elapsed() < budget {
                let stamp = idempotent.then_some(ProducerStamp {
                    producer_id: ProducerId(producer as u64),
                    epoch: ProducerEpoch(0),
                    base_sequence: Sequence(sequence),
                });
                let mut batch =
                    EncodedBatch::encode(&records, stamp, 0, 16 << 20).during("encoding")?;
                log.append_encoded("bench", 0, &mut batch)
                    .during("appending")?;
                sequence += records.len() as u64;
                appended += records.len() as u64;
            }
            Ok(appended)
        }));
    }
    let mut total = 0;
    for thread in threads {
        total += thread.join().map_err(|_| BenchError::ThreadPanicked)??;
    }
    let elapsed = started.elapsed();
    let syncs = counters.syncs.load(std::sync::atomic::Ordering::Relaxed) - syncs_before;
    let bytes = counters
        .bytes_written
        .load(std::sync::atomic::Ordering::Relaxed)
        - bytes_before;
    let bytes_per_sync = (syncs > 0).then(|| bytes as f64 / syncs as f64);
    let mode = match (idempotent, durability) {
        (true, Durability::None) => "idempotent, no fsync",
        (false, Durability::None) => "plain, no fsync",
        (true, _) => "idempotent",
        (false, _) => "plain",
    };
    let evidence_note = match evidence {
        true => "",
        false => ", evidence off",
    };
    Ok(Measurement {
        name: format!("append {record_bytes} B x{producers} {mode}{evidence_note}"),
        records: total,
        bytes: total * record_bytes as u64,
        elapsed,
        bytes_per_sync,
        rounds_mb_per_sec: Vec::new(),
    })
}

/// Returns (plain, idempotent). Idempotence costs CPU, not I/O: measured without fsync, with small batches (100 records
/// of 100 B, where per-batch work weighs most). Plain and idempotent appends alternate batch
/// by batch on one log (two topics), and only the time inside `append` is counted, so both
/// see the same machine at the same moments.
pub(super) fn idempotence_cpu_cost(
    dir: &Path,
    budget: Duration,
) -> Result<(Measurement, Measurement), BenchError> {
    let log_config = LogConfig {
        durability: Durability::None,
        segment_bytes_max: 512 << 20,
        ..LogConfig::default()
    };
    let log = Log::open(dir.join("cpu"), log_config).during("opening the log")?;
    log.create_topic("plain", 1).during("creating a topic")?;
    log.create_topic("idempotent", 1)
        .during("creating a topic")?;
    let records = make_records(100, 100);
    let (mut plain_time, mut idempotent_time) = (Duration::ZERO, Duration::ZERO);
    let (mut batches, mut sequence) = (0u64, 0u64);
    let started = Instant::now();
    while started.elapsed() < budget {
        let stamp = ProducerStamp {
            producer_id: ProducerId(1),
            epoch: ProducerEpoch(0),
            base_sequence: Sequence(sequence),
        };
        // Alternate which goes first, so neither always follows the other's writes.
        for idempotent in [batches % 2 == 0, batches % 2 == 1] {
            let t = Instant::now();
            match idempotent {
                true => log.append("idempotent", 0, &records, Some(stamp)),
                false => log.append("plain", 0, &records, None),
            }
            .during("appending")?;
            match idempotent {
                true => idempotent_time += t.elapsed(),
                false => plain_time += t.elapsed(),
            }
        }
        sequence += records.len() as u64;
        batches += 1;
    }
    log.close().during("closing the log")?;
    let measured = |name: &str, elapsed| Measurement {
        name: name.to_string(),
        records: batches * records.len() as u64,
        bytes: batches * (records.len() * 100) as u64,
        elapsed,
        bytes_per_sync: None,
        rounds_mb_per_sec: Vec::new(),
    };
    let plain = measured("append 100 B x1 plain, no fsync", plain_time);
    let idempotent = measured("append 100 B x1 idempotent, no fsync", idempotent_time);
    Ok((plain, idempotent))
}
