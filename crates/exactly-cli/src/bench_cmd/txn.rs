//! `exactly bench txn`: what transactions cost, as ratios measured in the same run.
//!
//! 1. raw write + fdatasync of one batch's bytes (the disk's own limit for this batch size);
//! 2. idempotent appends (`Log::append` with a `ProducerStamp`, `Durability::Immediate`)
//!    of 1 KiB records, one producer, one partition, for `--seconds`;
//! 3. the same batches appended inside transactions committed every 10 ms, 100 ms and 1 s,
//!    for `--seconds` each, with the latency of every `commit()` (p50/p99);
//! 4. `exactly log copy` of an input topic of `--copy-records` 1 KiB records, exactly-once
//!    vs at-least-once, each run as a child process of this binary and timed by itself.
//!
//! Ratios: each transactional rate against the idempotent rate, idempotent against raw
//! fdatasync, exactly-once copy against at-least-once copy. Everything runs in `--rounds`
//! interleaved rounds; the medians are reported.

use anyhow::{bail, Context};
use clap::Args;
use exactly_core::{ProducerEpoch, ProducerId, Sequence, Timestamp};
use exactly_log::{Durability, Log, LogConfig, ProducerStamp, Record};
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Arguments of `exactly bench txn`.
#[derive(Args, Debug)]
pub struct TxnBenchArgs {
    /// Seconds per append measurement.
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// Directory on the disk to measure (default: a temporary directory).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// 1 KiB records per appended batch (one `send`/`append` call).
    #[arg(long, default_value_t = 64)]
    batch_records: usize,
    /// Records in the input topic of the copy comparison.
    #[arg(long, default_value_t = 200_000)]
    copy_records: usize,
    /// Interleaved rounds; medians are reported.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    json: bool,
}

const RECORD_BYTES: usize = 1024;
const COMMIT_INTERVALS_MS: [u64; 3] = [10, 100, 1000];

/// One measured configuration.
struct Measurement {
    name: String,
    records: u64,
    elapsed: Duration,
    /// Latencies of every commit, sorted (transactional runs only).
    commits: Vec<Duration>,
}

impl Measurement {
    fn records_per_sec(&self) -> f64 {
        self.records as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
    fn mb_per_sec(&self) -> f64 {
        self.records_per_sec() * RECORD_BYTES as f64 / 1e6
    }
    fn percentile_ms(&self, p: f64) -> Option<f64> {
        if self.commits.is_empty() {
            return None;
        }
        let rank = ((self.commits.len() as f64 * p).ceil() as usize).max(1) - 1;
        self.commits
            .get(rank.min(self.commits.len() - 1))
            .map(|d| d.as_secs_f64() * 1e3)
    }
}

/// Runs the benchmark: `rounds` interleaved rounds (order reversed every other round, so
/// a noisy virtual disk hits numerator and denominator alike); medians are reported, commit
/// latency percentiles over the commits of all rounds.
pub fn run(args: TxnBenchArgs) -> anyhow::Result<()> {
    let temp = tempfile::tempdir_in(args.dir.clone().unwrap_or_else(std::env::temp_dir))
        .context("creating the benchmark directory")?;
    let budget = Duration::from_secs_f64(args.seconds);
    let records = make_records(args.batch_records.max(1));
    let rounds = args.rounds.max(1);

    // Slot 0: raw, 1: idempotent, 2..: transactional per interval.
    let slots = 2 + COMMIT_INTERVALS_MS.len();
    let mut results: Vec<Vec<Measurement>> = (0..slots).map(|_| Vec::new()).collect();
    for round in 0..rounds {
        let mut order: Vec<usize> = (0..slots).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for slot in order {
            let dir = temp.path().join(format!("r{round}-s{slot}"));
            let m = match slot.checked_sub(2).and_then(|i| COMMIT_INTERVALS_MS.get(i)) {
                Some(interval_ms) => transactional_appends(&dir, &records, *interval_ms, budget)?,
                None if slot == 0 => {
                    raw_fdatasync(temp.path(), records.len() * RECORD_BYTES, budget)?
                }
                None => idempotent_appends(&dir, &records, budget)?,
            };
            if dir.exists() {
                std::fs::remove_dir_all(&dir)?;
            }
            if let Some(list) = results.get_mut(slot) {
                list.push(m);
            }
        }
    }
    let mut medians = results.into_iter().map(median);
    let raw = medians.next().flatten().context("no rounds")?;
    let idempotent = medians.next().flatten().context("no rounds")?;
    report(&args, &raw, None);
    let versus_raw = idempotent.mb_per_sec() / raw.mb_per_sec();
    report(&args, &idempotent, Some(("raw fdatasync", versus_raw)));
    for m in medians.flatten() {
        let ratio = m.records_per_sec() / idempotent.records_per_sec();
        report(&args, &m, Some(("idempotent", ratio)));
    }

    let (eo, alo) = copies(&temp.path().join("copy"), args.copy_records, rounds)?;
    report(&args, &alo, None);
    let ratio = eo.records_per_sec() / alo.records_per_sec();
    report(&args, &eo, Some(("at-least-once copy", ratio)));
    Ok(())
}

/// The measurement with the median rate, carrying the commit latencies of all of them.
fn median(results: Vec<Measurement>) -> Option<Measurement> {
    let mut commits: Vec<Duration> = results.iter().flat_map(|m| m.commits.clone()).collect();
    commits.sort();
    let mut m = super::median_by(results, Measurement::records_per_sec)?;
    m.commits = commits;
    Some(m)
}

fn report(args: &TxnBenchArgs, m: &Measurement, versus: Option<(&str, f64)>) {
    let (p50, p99) = (m.percentile_ms(0.50), m.percentile_ms(0.99));
    if args.json {
        let (against, ratio) = versus.map_or((None, None), |(n, r)| (Some(n), Some(r)));
        println!(
            "{}",
            json!({"bench": m.name, "records": m.records, "seconds": m.elapsed.as_secs_f64(),
                   "records_per_sec": m.records_per_sec(), "mb_per_sec": m.mb_per_sec(),
                   "commits": m.commits.len(), "commit_p50_ms": p50, "commit_p99_ms": p99,
                   "ratio": ratio, "ratio_against": against})
        );
        return;
    }
    let latency = match (p50, p99) {
        (Some(p50), Some(p99)) => format!(
            "{:>5} commits p50 {p50:>7.2} ms p99 {p99:>7.2} ms",
            m.commits.len()
        ),
        _ => String::new(),
    };
    let ratio = versus.map_or(String::new(), |(n, r)| {
        format!("{:>6.1}% of {n}", r * 100.0)
    });
    println!(
        "{:<40} {:>8.1} MB/s {:>9.0} rec/s  {latency:<44} {ratio}",
        m.name,
        m.mb_per_sec(),
        m.records_per_sec()
    );
    let _ = std::io::stdout().flush();
}

fn make_records(count: usize) -> Vec<Record> {
    (0..count)
        .map(|i| Record {
            timestamp: Timestamp(i as i64),
            key: None,
            value: vec![(i % 251) as u8; RECORD_BYTES],
        })
        .collect()
}

fn open_log(dir: &Path, durability: Durability) -> anyhow::Result<Log> {
    let config = LogConfig {
        durability,
        segment_bytes_max: 512 << 20,
        ..LogConfig::default()
    };
    let log = Log::open(dir, config)?;
    log.create_topic("bench", 1)?;
    Ok(log)
}

/// Sequential writes of one batch's bytes, each followed by fdatasync.
fn raw_fdatasync(dir: &Path, block_bytes: usize, budget: Duration) -> anyhow::Result<Measurement> {
    let (written, elapsed) = super::raw_fdatasync_bytes(dir, block_bytes, budget)?;
    Ok(Measurement {
        name: format!("raw write+fdatasync, {} KiB blocks", block_bytes / 1024),
        records: written / RECORD_BYTES as u64,
        elapsed,
        commits: Vec::new(),
    })
}

fn idempotent_appends(
    dir: &Path,
    records: &[Record],
    budget: Duration,
) -> anyhow::Result<Measurement> {
    let log = open_log(dir, Durability::Immediate)?;
    let started = Instant::now();
    let mut sequence = 0u64;
    while started.elapsed() < budget {
        let stamp = ProducerStamp {
            producer_id: ProducerId(1),
            epoch: ProducerEpoch(0),
            base_sequence: Sequence(sequence),
        };
        log.append("bench", 0, records, Some(stamp))?;
        sequence += records.len() as u64;
    }
    let elapsed = started.elapsed();
    log.close()?;
    std::fs::remove_dir_all(dir)?;
    Ok(Measurement {
        name: "idempotent append, 1 KiB".into(),
        records: sequence,
        elapsed,
        commits: Vec::new(),
    })
}

/// Appends inside transactions committed every `interval_ms` until the budget is spent
/// (the last transaction is committed too, and counted).
fn transactional_appends(
    dir: &Path,
    records: &[Record],
    interval_ms: u64,
    budget: Duration,
) -> anyhow::Result<Measurement> {
    let log = open_log(dir, Durability::Immediate)?;
    let mut producer = log.transactional_producer("bench", 60_000)?;
    let interval = Duration::from_millis(interval_ms);
    let mut commits = Vec::new();
    let mut appended = 0u64;
    let started = Instant::now();
    while started.elapsed() < budget {
        producer.begin()?;
        let since = Instant::now();
        while since.elapsed() < interval && started.elapsed() < budget {
            producer.send("bench", 0, records)?;
            appended += records.len() as u64;
        }
        let commit = Instant::now();
        producer.commit()?;
        commits.push(commit.elapsed());
    }
    let elapsed = started.elapsed();
    drop(producer);
    log.close()?;
    commits.sort();
    Ok(Measurement {
        name: format!("transactional append, commit every {interval_ms} ms"),
        records: appended,
        elapsed,
        commits,
    })
}

/// Prepares an input topic and copies it with both guarantees through `exactly log copy`
/// (child processes of this binary); returns (exactly-once, at-least-once).
fn copies(dir: &Path, count: usize, rounds: usize) -> anyhow::Result<(Measurement, Measurement)> {
    {
        let log = Log::open(
            dir,
            LogConfig {
                durability: Durability::None,
                ..LogConfig::default()
            },
        )?;
        log.create_topic("in", 1)?;
        for round in 0..rounds {
            log.create_topic(&format!("out-eo-{round}"), 1)?;
            log.create_topic(&format!("out-alo-{round}"), 1)?;
        }
        let chunk = make_records(1000);
        let mut written = 0;
        while written < count {
            let n = chunk.len().min(count - written);
            log.append("in", 0, chunk.get(..n).unwrap_or_default(), None)?;
            written += n;
        }
        log.close()?;
    }
    let exe = crate::exactly_exe()?;
    let run = |guarantee: &str, to: &str| -> anyhow::Result<Measurement> {
        let output = Command::new(&exe)
            .args(["log", "copy", "--dir"])
            .arg(dir)
            .args(["--from", "in", "--to", to, "--group", to])
            .args(["--guarantee", guarantee])
            .output()
            .context("running exactly log copy")?;
        if !output.status.success() {
            bail!(
                "exactly log copy --guarantee {guarantee} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let line = String::from_utf8_lossy(&output.stdout);
        let summary: serde_json::Value = serde_json::from_str(line.trim())
            .with_context(|| format!("parsing the copy's summary: {line}"))?;
        let field = |name: &str| summary.get(name).and_then(serde_json::Value::as_u64);
        let copied = field("copied").context("no 'copied'")?;
        let elapsed_ms = field("elapsed_ms").context("no 'elapsed_ms'")?;
        if copied != count as u64 {
            bail!("copy --guarantee {guarantee} copied {copied} of {count} records");
        }
        Ok(Measurement {
            name: format!("log copy {guarantee}, 1 KiB"),
            records: copied,
            elapsed: Duration::from_millis(elapsed_ms),
            commits: Vec::new(),
        })
    };
    let (mut eo, mut alo) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        // Alternate which guarantee goes first.
        if round % 2 == 0 {
            alo.push(run("at-least-once", &format!("out-alo-{round}"))?);
            eo.push(run("exactly-once", &format!("out-eo-{round}"))?);
        } else {
            eo.push(run("exactly-once", &format!("out-eo-{round}"))?);
            alo.push(run("at-least-once", &format!("out-alo-{round}"))?);
        }
    }
    let eo = median(eo).context("no rounds")?;
    let alo = median(alo).context("no rounds")?;
    Ok((eo, alo))
}
