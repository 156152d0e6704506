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
//!
//! Beside them, in the same run: the engine's exactly-once sink publishing checkpoints of
//! `window` outputs on JetStream against the plain pipelined publish (one producer) of the
//! same class and record size (`nats/sink.rs`), and `run balances` exactly-once and
//! at-least-once on JetStream against the embedded log on the same input (`nats/jobs.rs`).

mod jobs;
mod sink;

pub use jobs::NatsJobFigure;

use crate::error::{BenchError, Context};
use crate::proc_usage::{self, ProcUsage};
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
    /// Transfers of the `run balances` comparison (0 skips it).
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 200_000))]
    pub job_transfers: u64,
    /// Durability classes to measure (`page-cache`, `fsync`; default: both).
    #[cfg_attr(
        feature = "clap",
        arg(long, value_delimiter = ',', default_value = "page-cache,fsync")
    )]
    pub classes: Vec<String>,
    /// Record sizes to measure, in bytes (default: 100 and 1024).
    #[cfg_attr(
        feature = "clap",
        arg(long, value_delimiter = ',', default_value = "100,1024")
    )]
    pub record_bytes: Vec<usize>,
}

/// The durability classes the benchmark knows.
const CLASS_NAMES: [&str; 2] = ["page-cache", "fsync"];

impl Default for NatsBenchConfig {
    fn default() -> Self {
        NatsBenchConfig {
            messages: 20_000,
            rounds: 3,
            window: 256,
            page_cache_url: "nats://127.0.0.1:4222".into(),
            job_transfers: 200_000,
            classes: CLASS_NAMES.iter().map(|name| name.to_string()).collect(),
            record_bytes: vec![100, 1024],
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
    /// NATS records/s over the log's, same class, size and producers (plain NATS rows).
    pub ratio_to_log: Option<f64>,
    /// The exactly-once sink's records/s over the plain pipelined publish of the same
    /// class and record size, one producer (sink rows only).
    pub ratio_to_publish: Option<f64>,
    /// CPU seconds of the bench process in the median round: the producers (and, for the
    /// log, the log itself, which runs in the process). `None` where `/proc` is unreadable.
    pub own_cpu_seconds: Option<f64>,
    /// CPU seconds of the NATS server in the median round (NATS and sink rows; `None` for
    /// the log, or when the server's process was not found).
    pub server_cpu_seconds: Option<f64>,
    /// Resident memory at the end of the median round, MiB: the server's (NATS and sink
    /// rows) or the bench process's (log rows).
    pub rss_mib: Option<f64>,
    /// Records/s of every round, in round order.
    pub rounds_records_per_sec: Vec<f64>,
}

/// Everything one `bench nats` run measured.
#[derive(Clone, Debug, Serialize)]
pub struct NatsReport {
    /// Publishing: plain NATS, the log, the exactly-once sink.
    pub publish: Vec<NatsFigure>,
    /// `run balances` on NATS and on the embedded log (empty with `job_transfers` 0).
    pub jobs: Vec<NatsJobFigure>,
}

struct Round {
    records_per_sec: f64,
    latencies_ms: Vec<f64>,
    usage: RoundUsage,
}

/// CPU and memory of one round.
#[derive(Clone, Copy, Debug, Default)]
struct RoundUsage {
    /// CPU seconds of the bench process (the producers, the log itself for log rounds).
    own_cpu_seconds: Option<f64>,
    /// CPU seconds of the server (NATS rounds).
    server_cpu_seconds: Option<f64>,
    /// Resident memory at the end of the round: the server's (NATS rounds) or the bench
    /// process's (log rounds), bytes.
    rss_bytes: Option<u64>,
}

/// Reads the bench process's and the server's usage before a round, and the difference
/// after it.
struct Meter {
    server: Option<u32>,
    own: Option<ProcUsage>,
    server_before: Option<ProcUsage>,
}

impl Meter {
    /// Starts measuring; `server` is the server's pid (`None`: a log round).
    fn start(server: Option<u32>) -> Self {
        Meter {
            server,
            own: proc_usage::usage(None),
            server_before: server.and_then(|pid| proc_usage::usage(Some(pid))),
        }
    }

    fn finish(self) -> RoundUsage {
        let own_after = proc_usage::usage(None);
        let server_after = self.server.and_then(|pid| proc_usage::usage(Some(pid)));
        let cpu = |before: Option<ProcUsage>, after: Option<ProcUsage>| {
            Some(after?.cpu_seconds - before?.cpu_seconds)
        };
        RoundUsage {
            own_cpu_seconds: cpu(self.own, own_after),
            server_cpu_seconds: cpu(self.server_before, server_after),
            rss_bytes: match self.server {
                Some(_) => server_after.map(|u| u.rss_bytes),
                None => own_after.map(|u| u.rss_bytes),
            },
        }
    }
}

/// A durability class: its server and the log configuration that matches it.
struct Class {
    name: &'static str,
    url: String,
    /// The server's pid, for its CPU time and RSS (`None`: not found).
    server_pid: Option<u32>,
    durability: Durability,
}

/// Runs the benchmark; `progress` is told each step.
pub fn run_nats_bench(
    config: &NatsBenchConfig,
    progress: &mut dyn FnMut(&str),
) -> Result<NatsReport, BenchError> {
    if config.rounds == 0 || config.window == 0 || config.messages == 0 {
        return Err(BenchError::Settings(
            "rounds, window and messages must be > 0".into(),
        ));
    }
    check_grid(config)?;
    let temp = tempfile::tempdir().during("creating a temporary directory")?;
    let server =
        NatsServer::start_single(&temp.path().join("nats")).during("starting nats-server")?;
    server
        .wait_ready(10_000)
        .during("waiting for nats-server")?;
    let page_cache_port = exactly_nats::connect::parse_servers(&config.page_cache_url)
        .during("parsing the page-cache server's address")?
        .first()
        .map(|address| address.port());
    let classes = [
        Class {
            name: "page-cache",
            url: config.page_cache_url.clone(),
            server_pid: page_cache_port.and_then(proc_usage::pid_listening_on),
            durability: Durability::None,
        },
        Class {
            name: "fsync",
            url: server.url(),
            server_pid: server.pid(),
            durability: Durability::Immediate,
        },
    ];
    let mut figures = Vec::new();
    let chosen = classes
        .iter()
        .filter(|class| config.classes.iter().any(|name| name == class.name));
    for class in chosen {
        for &record_bytes in &config.record_bytes {
            for producers in [1usize, 4] {
                let at = Point {
                    class,
                    record_bytes,
                    producers,
                };
                figures.extend(measure_point(&at, config, temp.path(), progress)?);
            }
        }
    }
    let jobs = if config.job_transfers == 0 {
        Vec::new()
    } else {
        jobs::run_jobs(
            &server.url(),
            temp.path(),
            config.job_transfers,
            config.rounds,
            progress,
        )?
    };
    Ok(NatsReport {
        publish: figures,
        jobs,
    })
}

/// Refuses a grid that names an unknown class, a record size of 0 or nothing at all.
fn check_grid(config: &NatsBenchConfig) -> Result<(), BenchError> {
    if let Some(unknown) = config
        .classes
        .iter()
        .find(|name| !CLASS_NAMES.contains(&name.as_str()))
    {
        return Err(BenchError::Settings(format!(
            "unknown durability class {unknown:?} (known: {})",
            CLASS_NAMES.join(", ")
        )));
    }
    if config.classes.is_empty() || config.record_bytes.is_empty() {
        return Err(BenchError::Settings(
            "at least one class and one record size are needed".into(),
        ));
    }
    if config.record_bytes.contains(&0) {
        return Err(BenchError::Settings("record sizes must be > 0".into()));
    }
    Ok(())
}

/// One point of the grid: class, record size, producers.
struct Point<'a> {
    class: &'a Class,
    record_bytes: usize,
    producers: usize,
}

/// The rounds of one point, interleaved: NATS, the sink (one producer), the log. Returns
/// the sink's figure (if measured), NATS's and the log's.
fn measure_point(
    at: &Point<'_>,
    config: &NatsBenchConfig,
    scratch: &std::path::Path,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<NatsFigure>, BenchError> {
    let (class, record_bytes, producers) = (at.class, at.record_bytes, at.producers);
    let version = NatsLog::connect(&class.url)
        .during("connecting")?
        .server_version();
    let name = format!("{} {record_bytes} B x{producers}", class.name);
    let (mut nats, mut log, mut sink) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..config.rounds {
        progress(&format!("{name} round {}", round + 1));
        settle_page_cache()?;
        nats.push(nats_round(
            &class.url,
            config,
            record_bytes,
            producers,
            class.server_pid,
        )?);
        if producers == 1 {
            progress(&format!("{name} round {}: the sink", round + 1));
            settle_page_cache()?;
            sink.push(sink::sink_round(
                &class.url,
                config,
                record_bytes,
                class.server_pid,
            )?);
        }
        let dir = scratch.join(format!(
            "log-{}-{record_bytes}-{producers}-{round}",
            class.name
        ));
        settle_page_cache()?;
        log.push(log_round(&dir, config, at)?);
        // As NATS's topics are deleted after their round: no round inherits another's
        // files (nor their dirty pages, dropped with them).
        std::fs::remove_dir_all(&dir).during("removing the round's log")?;
    }
    let log_figure = figure(at, "exactly-log".into(), config, log, None)?;
    let nats_figure = figure(
        at,
        format!("nats {version}"),
        config,
        nats,
        Some(log_figure.records_per_sec),
    )?;
    let mut figures = Vec::new();
    if !sink.is_empty() {
        let system = format!("exactly-once sink on nats {version}");
        let mut sink_figure = figure(at, system, config, sink, None)?;
        sink_figure.ratio_to_publish =
            Some(sink_figure.records_per_sec / nats_figure.records_per_sec);
        figures.push(sink_figure);
    }
    figures.push(nats_figure);
    figures.push(log_figure);
    Ok(figures)
}

fn figure(
    at: &Point<'_>,
    system: String,
    config: &NatsBenchConfig,
    rounds: Vec<Round>,
    log_rate: Option<f64>,
) -> Result<NatsFigure, BenchError> {
    let (class, record_bytes, producers) = (at.class.name, at.record_bytes, at.producers);
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
        ratio_to_publish: None,
        own_cpu_seconds: middle.usage.own_cpu_seconds,
        server_cpu_seconds: middle.usage.server_cpu_seconds,
        rss_mib: middle.usage.rss_bytes.map(|b| b as f64 / (1024.0 * 1024.0)),
        rounds_records_per_sec,
    })
}

fn nats_round(
    url: &str,
    config: &NatsBenchConfig,
    record_bytes: usize,
    producers: usize,
    server_pid: Option<u32>,
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
    let meter = Meter::start(server_pid);
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
    // Deleted at once: the server keeps every id of the duplicate window in memory, and
    // the page-cache server is shared with other users.
    admin
        .delete_topic(&topic)
        .during("deleting the bench topic")?;
    Ok(Round {
        records_per_sec: (per_producer * producers as u64) as f64 / elapsed,
        latencies_ms,
        usage: meter.finish(),
    })
}

fn log_round(
    dir: &std::path::Path,
    config: &NatsBenchConfig,
    at: &Point<'_>,
) -> Result<Round, BenchError> {
    let (record_bytes, producers) = (at.record_bytes, at.producers);
    let durability = at.class.durability;
    let log_config = LogConfig {
        durability,
        ..LogConfig::default()
    };
    let log = Log::open(dir, log_config).during("opening the log")?;
    log.create_topic("bench", 1).during("creating the topic")?;
    let log = Arc::new(log);
    let per_producer = config.messages / producers as u64;
    let meter = Meter::start(None);
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
        usage: meter.finish(),
    })
}

/// Writes every dirty page of the machine back (`sync`) before a round starts, so that no
/// round pays for the writeback of the bytes an earlier one left in the page cache: with
/// 1 GiB per round, the page-cache rounds would otherwise cross the kernel's dirty
/// thresholds at different points and be throttled by each other's data.
fn settle_page_cache() -> Result<(), BenchError> {
    let status = std::process::Command::new("sync")
        .status()
        .during("running sync")?;
    if status.success() {
        Ok(())
    } else {
        Err(BenchError::Settings(format!("sync failed: {status}")))
    }
}

/// A topic-name part no other round (of this or another process) uses.
fn unique() -> u64 {
    rand::random()
}
