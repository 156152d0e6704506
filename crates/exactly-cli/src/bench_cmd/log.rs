//! `exactly bench log`: the embedded log against the disk's own limit, in one run.
//!
//! 1. raw sequential write + fdatasync bandwidth, 1 MiB blocks (the physical ceiling);
//! 2. durable appends (`Durability::Immediate`, group commit) of 100 B and 1 KiB records
//!    with 1 and 8 concurrent producers on one partition, idempotent and not;
//! 3. sequential read of everything written;
//! 4. the cost of the durable-end evidence: one-record durable appends (100 B and 1 KiB,
//!    8 producers, group commit) with the evidence file on and off, interleaved.
//!
//! Every figure is printed with its ratio to a figure measured in the same run.

use anyhow::Context;
use clap::Args;
use exactly_core::{ProducerEpoch, ProducerId, Sequence, Timestamp};
use exactly_log::batch::EncodedBatch;
use exactly_log::{Durability, Log, LogConfig, ProducerStamp, Record};
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Arguments of `exactly bench log`.
#[derive(Args, Debug)]
pub struct LogBenchArgs {
    /// Seconds per measurement.
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// Directory on the disk to measure (default: a temporary directory).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Bytes of records per batch a producer hands to the log.
    #[arg(long, default_value_t = 1 << 20)]
    batch_bytes: usize,
    /// Interleaved rounds; medians are reported.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    json: bool,
}

struct Measurement {
    name: String,
    records: u64,
    bytes: u64,
    elapsed: Duration,
}

impl Measurement {
    fn mb_per_sec(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.elapsed.as_secs_f64().max(1e-9)
    }
    fn records_per_sec(&self) -> f64 {
        self.records as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// One measured configuration of durable appends.
#[derive(Clone, Copy)]
struct Config {
    record_bytes: usize,
    producers: usize,
    idempotent: bool,
}

const fn c(record_bytes: usize, producers: usize, idempotent: bool) -> Config {
    Config {
        record_bytes,
        producers,
        idempotent,
    }
}

const CONFIGS: [Config; 8] = [
    c(100, 1, false),
    c(100, 1, true),
    c(100, 8, false),
    c(100, 8, true),
    c(1024, 1, false),
    c(1024, 1, true),
    c(1024, 8, false),
    c(1024, 8, true),
];

/// Runs the benchmark: `rounds` interleaved rounds (raw, every config, read), reporting
/// the median of each so that a noisy virtual disk affects numerator and denominator alike.
pub fn run(args: LogBenchArgs) -> anyhow::Result<()> {
    let temp = tempfile::tempdir_in(args.dir.clone().unwrap_or_else(std::env::temp_dir))
        .context("creating the benchmark directory")?;
    let budget = Duration::from_secs_f64(args.seconds);
    let mut raw = Vec::new();
    let mut appends: Vec<Vec<Measurement>> = CONFIGS.iter().map(|_| Vec::new()).collect();
    let mut reads = Vec::new();
    for round in 0..args.rounds {
        raw.push(raw_fdatasync(temp.path(), budget)?);
        // Alternate the order per round so no configuration always follows the same one.
        let mut order: Vec<usize> = (0..CONFIGS.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for i in order {
            let (Some(config), Some(results)) = (CONFIGS.get(i), appends.get_mut(i)) else {
                continue;
            };
            let dir = temp.path().join(format!("round-{round}"));
            results.push(durable_appends(&dir, *config, args.batch_bytes, budget)?);
            if config.record_bytes == 1024 && config.producers == 8 && config.idempotent {
                reads.push(sequential_read(&dir)?);
            }
            std::fs::remove_dir_all(&dir)?;
        }
    }
    let raw = median(raw).context("no rounds")?;
    report(&args, &raw, None);
    let mut plain_rate = 0.0;
    let mut append_1k = 0.0;
    for (config, results) in CONFIGS.iter().zip(appends) {
        let m = median(results).context("no rounds")?;
        let versus = if config.idempotent {
            ("non-idempotent", m.records_per_sec() / plain_rate)
        } else {
            plain_rate = m.records_per_sec();
            ("raw fdatasync", m.mb_per_sec() / raw.mb_per_sec())
        };
        if config.record_bytes == 1024 && config.producers == 8 && !config.idempotent {
            append_1k = m.mb_per_sec();
        }
        report(&args, &m, Some(versus));
    }
    let read = median(reads).context("no rounds")?;
    let versus = ("1 KiB x8 durable append", read.mb_per_sec() / append_1k);
    report(&args, &read, Some(versus));
    idempotence_cpu_cost(&args, temp.path(), budget)?;
    evidence_cost(&args, temp.path(), budget)
}

/// The durable-end evidence is one small `pwrite` after every group-commit fsync (and an
/// fsync of its file at most once a second): measured where it weighs most, one record per
/// durable append, 8 producers sharing each fsync. On and off alternate round by round in
/// the same run; medians are compared.
fn evidence_cost(args: &LogBenchArgs, dir: &Path, budget: Duration) -> anyhow::Result<()> {
    for record_bytes in [100, 1024] {
        let config = c(record_bytes, 8, false);
        let (mut on, mut off) = (Vec::new(), Vec::new());
        for round in 0..args.rounds {
            for evidence in [round % 2 == 0, round % 2 == 1] {
                let path = dir.join(format!("evidence-{round}-{evidence}"));
                let immediate = Durability::Immediate;
                let m = appends(&path, config, record_bytes, budget, immediate, evidence)?;
                std::fs::remove_dir_all(&path)?;
                match evidence {
                    true => on.push(m),
                    false => off.push(m),
                }
            }
        }
        let on = median(on).context("no rounds")?;
        let off = median(off).context("no rounds")?;
        report(args, &off, None);
        let ratio = on.records_per_sec() / off.records_per_sec().max(1e-9);
        report(args, &on, Some(("evidence off", ratio)));
    }
    Ok(())
}

/// Idempotence costs CPU, not I/O: measured without fsync, with small batches (100 records
/// of 100 B, where per-batch work weighs most). Plain and idempotent appends alternate batch
/// by batch on one log (two topics), and only the time inside `append` is counted, so both
/// see the same machine at the same moments.
fn idempotence_cpu_cost(args: &LogBenchArgs, dir: &Path, budget: Duration) -> anyhow::Result<()> {
    let log_config = LogConfig {
        durability: Durability::None,
        segment_bytes_max: 512 << 20,
        ..LogConfig::default()
    };
    let log = Log::open(dir.join("cpu"), log_config)?;
    log.create_topic("plain", 1)?;
    log.create_topic("idempotent", 1)?;
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
                true => log.append("idempotent", 0, &records, Some(stamp))?,
                false => log.append("plain", 0, &records, None)?,
            };
            match idempotent {
                true => idempotent_time += t.elapsed(),
                false => plain_time += t.elapsed(),
            }
        }
        sequence += records.len() as u64;
        batches += 1;
    }
    let measured = |name: &str, elapsed| Measurement {
        name: name.to_string(),
        records: batches * records.len() as u64,
        bytes: batches * (records.len() * 100) as u64,
        elapsed,
    };
    let plain = measured("append 100 B x1 plain, no fsync", plain_time);
    let idempotent = measured("append 100 B x1 idempotent, no fsync", idempotent_time);
    report(args, &plain, None);
    let ratio = idempotent.records_per_sec() / plain.records_per_sec();
    report(
        args,
        &idempotent,
        Some(("plain, no fsync (alternating)", ratio)),
    );
    Ok(())
}

/// The measurement with the median throughput.
fn median(results: Vec<Measurement>) -> Option<Measurement> {
    super::median_by(results, Measurement::mb_per_sec)
}

fn report(args: &LogBenchArgs, m: &Measurement, versus: Option<(&str, f64)>) {
    if args.json {
        let (against, ratio) = versus.map_or((None, None), |(n, r)| (Some(n), Some(r)));
        println!(
            "{}",
            json!({"bench": m.name, "records": m.records, "bytes": m.bytes,
                   "seconds": m.elapsed.as_secs_f64(), "mb_per_sec": m.mb_per_sec(),
                   "records_per_sec": m.records_per_sec(), "ratio": ratio, "ratio_against": against})
        );
        return;
    }
    let ratio = versus.map_or(String::new(), |(n, r)| {
        format!("{:>6.1}% of {n}", r * 100.0)
    });
    println!(
        "{:<44} {:>9.1} MB/s {:>12.0} rec/s   {ratio}",
        m.name,
        m.mb_per_sec(),
        m.records_per_sec()
    );
    let _ = std::io::stdout().flush();
}

/// Sequential 1 MiB writes, each followed by fdatasync: what the disk can make durable.
fn raw_fdatasync(dir: &Path, budget: Duration) -> anyhow::Result<Measurement> {
    let (written, elapsed) = super::raw_fdatasync_bytes(dir, 1 << 20, budget)?;
    Ok(Measurement {
        name: "raw write+fdatasync, 1 MiB blocks".into(),
        records: written >> 20,
        bytes: written,
        elapsed,
    })
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

/// `producers` threads append to one partition until the budget is spent.
fn durable_appends(
    dir: &Path,
    config: Config,
    batch_bytes: usize,
    budget: Duration,
) -> anyhow::Result<Measurement> {
    appends(
        dir,
        config,
        batch_bytes,
        budget,
        Durability::Immediate,
        true,
    )
}

/// `config.producers` threads append to one partition with `durability` until the budget
/// is spent.
fn appends(
    dir: &Path,
    config: Config,
    batch_bytes: usize,
    budget: Duration,
    durability: Durability,
    evidence: bool,
) -> anyhow::Result<Measurement> {
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
    let log = Arc::new(Log::open(dir, log_config)?);
    log.create_topic("bench", 1)?;
    let per_batch = (batch_bytes / record_bytes).max(1);
    let records = make_records(record_bytes, per_batch);
    let started = Instant::now();
    let mut threads = Vec::new();
    for producer in 0..producers {
        let log = Arc::clone(&log);
        let records = records.clone();
        threads.push(std::thread::spawn(move || -> anyhow::Result<u64> {
            let mut sequence = 0u64;
            let mut appended = 0u64;
            while started.elapsed() < budget {
                let stamp = idempotent.then_some(ProducerStamp {
                    producer_id: ProducerId(producer as u64),
                    epoch: ProducerEpoch(0),
                    base_sequence: Sequence(sequence),
                });
                let mut batch = EncodedBatch::encode(&records, stamp, 0, 16 << 20)?;
                log.append_encoded("bench", 0, &mut batch)?;
                sequence += records.len() as u64;
                appended += records.len() as u64;
            }
            Ok(appended)
        }));
    }
    let mut total = 0;
    for thread in threads {
        total += thread
            .join()
            .map_err(|_| anyhow::anyhow!("producer thread panicked"))??;
    }
    let elapsed = started.elapsed();
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
    })
}

/// Records per read call: what a consumer processing in batches asks for.
const READ_BATCH_RECORDS: usize = 2_000;

fn sequential_read(dir: &Path) -> anyhow::Result<Measurement> {
    let log = Log::open(dir, LogConfig::default())?;
    let started = Instant::now();
    let mut next = exactly_core::Offset(0);
    let (mut records, mut bytes) = (0u64, 0u64);
    loop {
        let batch = log.read("bench", 0, next, READ_BATCH_RECORDS)?;
        let Some(last) = batch.last() else { break };
        next = last.offset.next();
        records += batch.len() as u64;
        bytes += batch.iter().map(|r| r.value.len() as u64).sum::<u64>();
    }
    Ok(Measurement {
        name: "sequential read, 1 KiB records".into(),
        records,
        bytes,
        elapsed: started.elapsed(),
    })
}
