//! `bench nats`: JetStream pipelined publishing with a message id per record against the
//! embedded log's idempotent producer, at the same durability class, in one run.
//!
//! - **page-cache ack**: the machine's nats-server 2.9.10 (no fsync setting: it acks from
//!   the page cache) vs the embedded log with `Durability::None`;
//! - **fsync per ack**: our own nats-server ≥ 2.10 with `sync_interval: always` vs the
//!   embedded log with `Durability::Immediate` (group commit).
//!
//! Records of 100 B and 1 KiB, 1 and 4 producers on one partition (one stream). A NATS
//! producer has its own connection and publishes windows of `window` records pipelined,
//! each with a message id; a log producer appends batches of `window` records with its
//! producer stamp. Latency is per window: from the first send to the last
//! acknowledgment (NATS) or the return of the durable append (log). Every figure is the
//! median of `rounds` interleaved rounds; the ratio is NATS over the log, same class, same
//! round set.

use crate::error::{BenchError, Context};
use crate::stats::{median, median_by};
use exactly_core::{ProducerEpoch, ProducerId, Sequence, Timestamp};
use exactly_log::{Durability, Log, LogConfig, ProducerStamp, Record};
use exactly_nats::server::NatsServer;
use exactly_nats::{ClientOptions, NatsLog, OutRecord, TopicOptions};
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;

/// Settings of the NATS benchmark.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct NatsBenchConfig {
    /// Records per measurement, all producers together (try 1000000).
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 20_000))]
    pub messages: u64,
    /// Interleaved rounds; medians are reported.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 3))]
    pub rounds: usize,
    /// Records in flight per NATS producer / per log append.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 256))]
    pub window: usize,
    /// The page-cache-ack server (nats-server 2.9, no fsync setting).
    #[cfg_attr(
        feature = "clap",
        arg(
            long = "page-cache-log",
            value_name = "PAGE_CACHE_LOG",
            default_value = "nats://127.0.0.1:4222"
        )
    )]
    pub page_cache_url: String,
}

impl Default for NatsBenchConfig {
    fn default() -> Self {
        NatsBenchConfig {
            messages: 20_000,
            rounds: 3,
            window: 256,
            page_cache_url: "nats://127.0.0.1:4222".into(),
        }
    }
}

/// One reported figure (the median round).
#[derive(Clone, Debug, Serialize)]
pub struct NatsFigure {
    /// What was measured.
    pub bench: String,
    /// `page-cache` or `fsync`.
    pub class: &'static str,
    /// `nats <version>` or `exactly-log`.
    pub system: String,
    /// Payload bytes per record.
    pub record_bytes: usize,
    /// Concurrent producers.
    pub producers: usize,
    /// Records in the median round.
    pub records: u64,
    /// Records per second (median round).
    pub records_per_sec: f64,
    /// Median window acknowledgment latency of the median round, ms.
    pub p50_ms: f64,
    /// 99th percentile window acknowledgment latency of the median round, ms.
    pub p99_ms: f64,
    /// NATS records/s over the log's, same class, size and producers (NATS rows only).
    pub ratio_to_log: Option<f64>,
    /// Records/s of every round, in round order.
    pub rounds_records_per_sec: Vec<f64>,
}

struct Round {
    records_per_sec: f64,
    latencies_ms: Vec<f64>,
}

/// Runs the benchmark; `progress` is told each step.
pub fn run_nats_bench(
    config: &NatsBenchConfig,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<NatsFigure>, BenchError> {
    if config.rounds == 0 || config.window == 0 || config.messages == 0 {
        return Err(BenchError::Settings(
            "rounds, window and messages must be > 0".into(),
        ));
    }
    let temp = tempfile::tempdir().during("creating a temporary directory")?;
    let server =
        NatsServer::start_single(&temp.path().join("nats")).during("starting nats-server")?;
    server
        .wait_ready(10_000)
        .during("waiting for nats-server")?;
    let classes = [
        (
            "page-cache",
            config.page_cache_url.clone(),
            Durability::None,
        ),
        ("fsync", server.url(), Durability::Immediate),
    ];
    let mut figures = Vec::new();
    for (class, url, durability) in &classes {
        let version = NatsLog::connect(url).during("connecting")?.server_version();
        for record_bytes in [100usize, 1024] {
            for producers in [1usize, 4] {
                let name = format!("{class} {record_bytes} B x{producers}");
                let (mut nats, mut log) = (Vec::new(), Vec::new());
                for round in 0..config.rounds {
                    progress(&format!("{name} round {}", round + 1));
                    nats.push(nats_round(url, config, record_bytes, producers)?);
                    let dir = temp
                        .path()
                        .join(format!("log-{class}-{record_bytes}-{producers}-{round}"));
                    log.push(log_round(
                        &dir,
                        config,
                        record_bytes,
                        producers,
                        *durability,
                    )?);
                }
                let log_figure = figure(
                    class,
                    "exactly-log".into(),
                    record_bytes,
                    producers,
                    config,
                    log,
                    None,
                )?;
                let nats_figure = figure(
                    class,
                    format!("nats {version}"),
                    record_bytes,
                    producers,
                    config,
                    nats,
                    Some(log_figure.records_per_sec),
                )?;
                figures.push(nats_figure);
                figures.push(log_figure);
            }
        }
    }
    Ok(figures)
}

fn figure(
    class: &'static str,
    system: String,
    record_bytes: usize,
    producers: usize,
    config: &NatsBenchConfig,
    rounds: Vec<Round>,
    log_rate: Option<f64>,
) -> Result<NatsFigure, BenchError> {
    let rounds_records_per_sec: Vec<f64> = rounds.iter().map(|r| r.records_per_sec).collect();
    let mut middle = median_by(rounds, |r| r.records_per_sec)
        .ok_or_else(|| BenchError::Settings("no rounds".into()))?;
    middle.latencies_ms.sort_by(f64::total_cmp);
    let percentile = |p: f64| {
        let index = ((middle.latencies_ms.len() as f64 - 1.0) * p).round() as usize;
        middle.latencies_ms.get(index).copied().unwrap_or(f64::NAN)
    };
    Ok(NatsFigure {
        bench: format!("{class} {record_bytes} B x{producers} {system}"),
        class,
        system,
        record_bytes,
        producers,
        records: config.messages,
        records_per_sec: middle.records_per_sec,
        p50_ms: median(&middle.latencies_ms).unwrap_or(f64::NAN),
        p99_ms: percentile(0.99),
        ratio_to_log: log_rate.map(|log| middle.records_per_sec / log),
        rounds_records_per_sec,
    })
}

fn nats_round(
    url: &str,
    config: &NatsBenchConfig,
    record_bytes: usize,
    producers: usize,
) -> Result<Round, BenchError> {
    let admin = NatsLog::connect(url).during("connecting")?;
    let name = format!("bench.{}.{}", std::process::id(), unique());
    let topic = admin
        .create_topic(&name, 1, TopicOptions::default())
        .during("creating the bench topic")?;
    let per_producer = config.messages / producers as u64;
    // fsync per message with many in flight on a loaded machine: acks can take seconds;
    // the bench measures them rather than failing on them.
    let options = ClientOptions {
        request_timeout_ms: 60_000,
        ..ClientOptions::default()
    };
    // Connections are made before the clock starts.
    let connections = (0..producers)
        .map(|_| NatsLog::connect_with(url, options.clone()).during("connecting a producer"))
        .collect::<Result<Vec<_>, _>>()?;
    let started = Instant::now();
    let threads: Vec<_> = connections
        .into_iter()
        .enumerate()
        .map(|(producer, log)| {
            let (topic, window) = (topic.clone(), config.window);
            std::thread::spawn(move || -> Result<Vec<f64>, BenchError> {
                let mut latencies = Vec::new();
                let mut next = 0u64;
                while next < per_producer {
                    let count = (per_producer - next).min(window as u64);
                    let records: Vec<OutRecord> = (next..next + count)
                        .map(|i| OutRecord {
                            origin: None,
                            msg_id: format!("b{producer}.{i}"),
                            epoch: None,
                            key: None,
                            timestamp_ms: 0,
                            value: vec![b'x'; record_bytes],
                        })
                        .collect();
                    let sent = Instant::now();
                    log.publish(&topic, 0, &records, None)
                        .during("publishing")?;
                    latencies.push(sent.elapsed().as_secs_f64() * 1e3);
                    next += count;
                }
                Ok(latencies)
            })
        })
        .collect();
    let mut latencies_ms = Vec::new();
    for thread in threads {
        latencies_ms.extend(thread.join().map_err(|_| BenchError::ThreadPanicked)??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    Ok(Round {
        records_per_sec: (per_producer * producers as u64) as f64 / elapsed,
        latencies_ms,
    })
}

fn log_round(
    dir: &std::path::Path,
    config: &NatsBenchConfig,
    record_bytes: usize,
    producers: usize,
    durability: Durability,
) -> Result<Round, BenchError> {
    let log_config = LogConfig {
        durability,
        ..LogConfig::default()
    };
    let log = Log::open(dir, log_config).during("opening the log")?;
    log.create_topic("bench", 1).during("creating the topic")?;
    let log = Arc::new(log);
    let per_producer = config.messages / producers as u64;
    let started = Instant::now();
    let threads: Vec<_> = (0..producers)
        .map(|producer| {
            let (log, window) = (Arc::clone(&log), config.window);
            std::thread::spawn(move || -> Result<Vec<f64>, BenchError> {
                let mut latencies = Vec::new();
                let mut next = 0u64;
                while next < per_producer {
                    let count = (per_producer - next).min(window as u64);
                    let records: Vec<Record> = (0..count)
                        .map(|_| Record {
                            timestamp: Timestamp(0),
                            key: None,
                            value: vec![b'x'; record_bytes],
                        })
                        .collect();
                    let stamp = ProducerStamp {
                        producer_id: ProducerId(producer as u64 + 1),
                        epoch: ProducerEpoch(0),
                        base_sequence: Sequence(next),
                    };
                    let sent = Instant::now();
                    log.append("bench", 0, &records, Some(stamp))
                        .during("appending")?;
                    latencies.push(sent.elapsed().as_secs_f64() * 1e3);
                    next += count;
                }
                Ok(latencies)
            })
        })
        .collect();
    let mut latencies_ms = Vec::new();
    for thread in threads {
        latencies_ms.extend(thread.join().map_err(|_| BenchError::ThreadPanicked)??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    Ok(Round {
        records_per_sec: (per_producer * producers as u64) as f64 / elapsed,
        latencies_ms,
    })
}

/// A topic-name part no other round (of this or another process) uses.
fn unique() -> u64 {
    rand::random()
}
