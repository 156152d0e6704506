//! `bench kafka`: unmodified Kafka clients (librdkafka through `rdkafka`) against
//! `exactly serve` over loopback, each beside an in-process baseline measured in the
//! same run:
//!
//! - **produce**: librdkafka's idempotent producer (`acks=all`, batches up to 1 MB,
//!   `linger.ms=5`) vs the log's idempotent producer appending the same records
//!   in-process in batches of the same size (target: protocol ≥ 50% of in-process);
//! - **consume**: librdkafka's `read_committed` consumer vs the log's `read_committed`
//!   reads in-process;
//! - **copy**: librdkafka's consume-transform-produce loop in transactions committed every
//!   `commit_interval` vs the same loop without transactions (flush, then commit the
//!   consumer's offsets, every interval) (target: transactions cost ≤ 10%).
//!
//! Records of `record_bytes` bytes on one partition; every figure is the median of
//! `rounds` rounds, each round measuring both sides of every pair in alternating order;
//! a ratio is the ratio of the two medians. The server runs in this process on its own
//! threads (one log, one topic per round and side).

mod consume;
mod copy;
mod deliveries;
mod produce;
mod server;

use crate::error::{BenchError, Context};
use crate::stats::median;
use serde::Serialize;
use std::time::Duration;

/// Settings of the Kafka benchmark.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct KafkaBenchConfig {
    /// Records per measurement.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 50_000))]
    pub records: u64,
    /// Bytes per record value.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 1024))]
    pub record_bytes: usize,
    /// Rounds (each measures both sides of every pair, alternating which goes first);
    /// medians are reported.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 3))]
    pub rounds: usize,
    /// Transaction (or offset commit) interval of the copy loops.
    #[cfg_attr(
        feature = "clap",
        arg(
            long = "commit-interval-ms",
            value_name = "COMMIT_INTERVAL_MS",
            help = "Commit interval of the copy loops, ms",
            default_value = "100",
            value_parser = parse_millis
        )
    )]
    pub commit_interval: Duration,
}

/// A duration given in whole milliseconds (`--commit-interval-ms`).
#[cfg(feature = "clap")]
fn parse_millis(text: &str) -> Result<Duration, std::num::ParseIntError> {
    Ok(Duration::from_millis(text.parse()?))
}

impl Default for KafkaBenchConfig {
    fn default() -> Self {
        Self {
            records: 50_000,
            record_bytes: 1024,
            rounds: 3,
            commit_interval: Duration::from_millis(100),
        }
    }
}

/// One reported figure (medians over the rounds).
#[derive(Clone, Debug, Serialize)]
pub struct KafkaFigure {
    /// What was measured (`produce`, `consume`, `copy`).
    pub bench: &'static str,
    /// Who did it.
    pub system: String,
    /// Records per round.
    pub records: u64,
    /// Bytes per record value.
    pub record_bytes: usize,
    /// Median records per second.
    pub records_per_sec: f64,
    /// Median MiB of record values per second.
    pub mib_per_sec: f64,
    /// This figure's median over its baseline's median (baseline rows: `None`).
    pub ratio_to_baseline: Option<f64>,
    /// The target the ratio is held to, in words (baseline rows: `None`).
    pub target: Option<&'static str>,
    /// Whether the ratio meets the target (baseline rows: `None`).
    pub meets_target: Option<bool>,
    /// Records per second of every round, in round order.
    pub rounds_records_per_sec: Vec<f64>,
}

/// Per-round rates of the six measured systems.
#[derive(Default)]
struct Rates {
    produce_rdkafka: Vec<f64>,
    produce_in_process: Vec<f64>,
    consume_rdkafka: Vec<f64>,
    consume_in_process: Vec<f64>,
    copy_transactional: Vec<f64>,
    copy_plain: Vec<f64>,
}

/// Runs the benchmark; `progress` is told each step.
pub fn run_kafka_bench(
    config: &KafkaBenchConfig,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<KafkaFigure>, BenchError> {
    if config.rounds == 0 || config.records == 0 || config.record_bytes == 0 {
        return Err(BenchError::Settings(
            "rounds, records and record bytes must be > 0".into(),
        ));
    }
    let temp = tempfile::tempdir().during("creating a temporary directory")?;
    let server = server::start(temp.path())?;
    let mut rates = Rates::default();
    for round in 0..config.rounds {
        progress(&format!("round {} of {}", round + 1, config.rounds));
        measure_round(&server, config, round, &mut rates)?;
    }
    figures(config, &rates)
}

/// One round: both sides of every pair, the side measured first alternating by round.
fn measure_round(
    server: &server::BenchServer,
    config: &KafkaBenchConfig,
    round: usize,
    rates: &mut Rates,
) -> Result<(), BenchError> {
    let log = server.log;
    let (remote, local) = (format!("remote-{round}"), format!("local-{round}"));
    for topic in [&remote, &local] {
        log.create_topic(topic, 1).during("creating a topic")?;
    }
    // Producer ids chosen by hand live below the server's (2^61 and up).
    let producer_id = round as u64 + 1;
    let batch_records = (1_000_000 / config.record_bytes as u64).max(1);
    let (records, bytes) = (config.records, config.record_bytes);
    let rdkafka_first = round.is_multiple_of(2);
    for side in sides(rdkafka_first) {
        match side {
            true => rates.produce_rdkafka.push(produce::rdkafka_round(
                &server.addr,
                &remote,
                records,
                bytes,
            )?),
            false => rates.produce_in_process.push(produce::in_process_round(
                log,
                &local,
                producer_id,
                records,
                bytes,
                batch_records,
            )?),
        }
    }
    for side in sides(rdkafka_first) {
        match side {
            true => {
                rates
                    .consume_rdkafka
                    .push(consume::rdkafka_round(&server.addr, &remote, records)?)
            }
            false => rates
                .consume_in_process
                .push(consume::in_process_round(log, &local, records)?),
        }
    }
    for transactional in sides(rdkafka_first) {
        let output = format!("copy-{round}-{transactional}");
        log.create_topic(&output, 1).during("creating a topic")?;
        let rate = copy::round(
            &server.addr,
            &remote,
            &output,
            records,
            transactional,
            config.commit_interval,
        )?;
        match transactional {
            true => rates.copy_transactional.push(rate),
            false => rates.copy_plain.push(rate),
        }
    }
    Ok(())
}

/// `[first, !first]`.
fn sides(first: bool) -> [bool; 2] {
    [first, !first]
}

fn figures(config: &KafkaBenchConfig, rates: &Rates) -> Result<Vec<KafkaFigure>, BenchError> {
    let (_, librdkafka) = rdkafka::util::get_rdkafka_version();
    let client = format!("librdkafka {librdkafka} -> exactly serve");
    let interval_ms = config.commit_interval.as_millis();
    let pairs = [
        (
            "produce",
            format!("{client} (idempotent, acks=all)"),
            &rates.produce_rdkafka,
            "in-process idempotent appends".to_string(),
            &rates.produce_in_process,
            ("protocol >= 50% of in-process", 0.5),
        ),
        (
            "consume",
            format!("{client} (read_committed)"),
            &rates.consume_rdkafka,
            "in-process read_committed reads".to_string(),
            &rates.consume_in_process,
            ("protocol >= 50% of in-process", 0.5),
        ),
        (
            "copy",
            format!("{client} transactional, commit every {interval_ms} ms"),
            &rates.copy_transactional,
            format!("{client} non-transactional, flush + offset commit every {interval_ms} ms"),
            &rates.copy_plain,
            ("transactions cost <= 10%", 0.9),
        ),
    ];
    let mut figures = Vec::new();
    for (bench, system, measured, baseline_system, baseline, (target, ratio_min)) in pairs {
        let base = figure(config, bench, baseline_system, baseline, None)?;
        let ratio = measured_median(measured)? / base.records_per_sec;
        let mut top = figure(config, bench, system, measured, Some(ratio))?;
        top.target = Some(target);
        top.meets_target = Some(ratio >= ratio_min);
        figures.push(top);
        figures.push(base);
    }
    Ok(figures)
}

fn measured_median(rates: &[f64]) -> Result<f64, BenchError> {
    median(rates).ok_or_else(|| BenchError::Settings("no rounds".into()))
}

fn figure(
    config: &KafkaBenchConfig,
    bench: &'static str,
    system: String,
    rates: &[f64],
    ratio_to_baseline: Option<f64>,
) -> Result<KafkaFigure, BenchError> {
    let records_per_sec = measured_median(rates)?;
    Ok(KafkaFigure {
        bench,
        system,
        records: config.records,
        record_bytes: config.record_bytes,
        records_per_sec,
        mib_per_sec: records_per_sec * config.record_bytes as f64 / (1024.0 * 1024.0),
        ratio_to_baseline,
        target: None,
        meets_target: None,
        rounds_records_per_sec: rates.to_vec(),
    })
}
