//! `exactly bench txn`: what transactions cost, as ratios measured in the same run.
//!
//! 1. raw write + fdatasync of one batch's bytes (the disk's own limit for this batch size);
//! 2. idempotent appends (`Log::append` with a `ProducerStamp`, `Durability::Immediate`)
//!    of 1 KiB records, one producer, one partition, for `seconds`;
//! 3. the same batches appended inside transactions committed every 10 ms, 100 ms and 1 s,
//!    for `seconds` each, with the latency of every `commit()` (p50/p99);
//! 4. `exactly log copy` of an input topic of `copy_records` 1 KiB records, exactly-once
//!    vs at-least-once, each run as a child process of the `exactly` binary and timed by
//!    itself;
//! 5. commit throughput of `producers` transactional producers committing at once, each
//!    to its own partition (`Durability::Immediate`), against the same producers with the
//!    coordinator's old global lock across I/O restored (`Log::serialize_transaction_io`)
//!    and against the physical limit, `producers` files written and `fdatasync`ed in
//!    parallel (see `commits`);
//! 6. the time `Log::open` takes after `history_transactions` committed transactions, the
//!    median of `opens` opens, without a coordinator snapshot (the whole history replayed)
//!    and with one (only the tail replayed). The history's `__transactions` records are
//!    appended directly (`Log::append_synthetic_transaction_history`: the records a
//!    committed one-partition transaction writes, without its data or markers), since the
//!    real path syncs three times per transaction.
//! 7. the time an open plus the first `committed_offsets` take after `history_transactions`
//!    position records, without and with a positions snapshot (see `positions`).
//!
//! Ratios: each transactional rate against the idempotent rate, idempotent against raw
//! fdatasync, exactly-once copy against at-least-once copy, concurrent commits against
//! serialized ones and against parallel fdatasync, open time with a snapshot against without. Everything runs in
//! `rounds` interleaved rounds; the medians are reported.

use exactly_core::{ProducerEpoch, ProducerId, Sequence, Timestamp};
use exactly_log::{Durability, Log, LogConfig, ProducerStamp, Record};
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod commits;
mod positions;

/// Why the benchmark stopped.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {reason}")]
pub struct TxnBenchError {
    /// The step that failed.
    pub what: String,
    /// Why.
    pub reason: String,
}

fn failed<E: std::fmt::Display>(what: impl Into<String>) -> impl FnOnce(E) -> TxnBenchError {
    let what = what.into();
    move |e| TxnBenchError {
        what,
        reason: e.to_string(),
    }
}

type Result<T> = std::result::Result<T, TxnBenchError>;

/// Which parts run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parts {
    /// Raw fdatasync, idempotent and transactional appends (1–3).
    pub appends: bool,
    /// Exactly-once vs at-least-once copy (4).
    pub copy: bool,
    /// Concurrent vs serialized commits (5).
    pub concurrent: bool,
    /// Open time after a long history (6).
    pub open: bool,
}

impl Parts {
    /// The names of the parts, in the order they run.
    pub const NAMES: [&'static str; 4] = ["appends", "copy", "concurrent", "open"];

    /// The parts `names` lists (each one of [`Parts::NAMES`]).
    pub fn from_names(names: &[String]) -> std::result::Result<Parts, UnknownPart> {
        if let Some(unknown) = names.iter().find(|n| !Self::NAMES.contains(&n.as_str())) {
            return Err(UnknownPart(unknown.clone()));
        }
        let wants = |part: &str| names.iter().any(|n| n == part);
        Ok(Parts {
            appends: wants("appends"),
            copy: wants("copy"),
            concurrent: wants("concurrent"),
            open: wants("open"),
        })
    }
}

/// A part name that is not one of [`Parts::NAMES`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown part '{0}' (known: appends, copy, concurrent, open)")]
pub struct UnknownPart(pub String);

/// Settings of the benchmark.
#[derive(Clone, Debug)]
pub struct Options {
    /// Seconds per append or commit measurement.
    pub seconds: f64,
    /// Directory on the disk to measure (`None`: a temporary directory).
    pub dir: Option<PathBuf>,
    /// 1 KiB records per appended batch (one `send`/`append` call).
    pub batch_records: usize,
    /// Records in the input topic of the copy comparison.
    pub copy_records: usize,
    /// Interleaved rounds; medians are reported.
    pub rounds: usize,
    /// Print JSON lines instead of a table.
    pub json: bool,
    /// The `exactly` binary (runs `exactly log copy`).
    pub exactly_exe: PathBuf,
    /// Transactional producers committing at once.
    pub producers: u32,
    /// Committed transactions in the history the open time is measured after.
    pub history_transactions: u64,
    /// Transactional ids that history is spread over.
    pub history_ids: u64,
    /// Opens measured (the median is reported).
    pub opens: usize,
    /// Which parts run.
    pub parts: Parts,
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
pub fn run(options: &Options) -> Result<()> {
    let base = options.dir.clone().unwrap_or_else(std::env::temp_dir);
    let temp = tempfile::tempdir_in(&base).map_err(failed("creating the benchmark directory"))?;
    if options.parts.appends {
        appends(options, temp.path())?;
    }
    if options.parts.copy {
        let rounds = options.rounds.max(1);
        let (eo, alo) = copies(options, &temp.path().join("copy"), rounds)?;
        report(options, &alo, &[]);
        let ratio = eo.records_per_sec() / alo.records_per_sec();
        report(options, &eo, &[("at-least-once copy", ratio)]);
    }
    if options.parts.concurrent {
        commits::concurrency(options, temp.path())?;
    }
    if options.parts.open {
        open_times(options, &temp.path().join("history"))?;
        positions::first_read_times(options, &temp.path().join("positions"))?;
    }
    Ok(())
}

fn appends(options: &Options, temp: &Path) -> Result<()> {
    let budget = Duration::from_secs_f64(options.seconds);
    let records = make_records(options.batch_records.max(1));
    let rounds = options.rounds.max(1);
    // Slot 0: raw, 1: idempotent, 2..: transactional per interval.
    let slots = 2 + COMMIT_INTERVALS_MS.len();
    let mut results: Vec<Vec<Measurement>> = (0..slots).map(|_| Vec::new()).collect();
    for round in 0..rounds {
        let mut order: Vec<usize> = (0..slots).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for slot in order {
            let dir = temp.join(format!("r{round}-s{slot}"));
            let m = match slot.checked_sub(2).and_then(|i| COMMIT_INTERVALS_MS.get(i)) {
                Some(interval_ms) => transactional_appends(&dir, &records, *interval_ms, budget)?,
                None if slot == 0 => raw_fdatasync(temp, records.len() * RECORD_BYTES, budget)?,
                None => idempotent_appends(&dir, &records, budget)?,
            };
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(failed("removing a run's directory"))?;
            }
            if let Some(list) = results.get_mut(slot) {
                list.push(m);
            }
        }
    }
    let mut medians = results.into_iter().map(median);
    let no_rounds = || TxnBenchError {
        what: "appends".into(),
        reason: "no rounds".into(),
    };
    let raw = medians.next().flatten().ok_or_else(no_rounds)?;
    let idempotent = medians.next().flatten().ok_or_else(no_rounds)?;
    report(options, &raw, &[]);
    let versus_raw = idempotent.mb_per_sec() / raw.mb_per_sec();
    report(options, &idempotent, &[("raw fdatasync", versus_raw)]);
    for m in medians.flatten() {
        let ratio = m.records_per_sec() / idempotent.records_per_sec();
        report(options, &m, &[("idempotent", ratio)]);
    }
    Ok(())
}

/// The element whose `rate` is the median (noisy disks: report the middle round).
fn median_by<T>(mut results: Vec<T>, rate: impl Fn(&T) -> f64) -> Option<T> {
    results.sort_by(|a, b| rate(a).total_cmp(&rate(b)));
    let middle = results.len() / 2;
    results.into_iter().nth(middle)
}

/// The measurement with the median rate, carrying the commit latencies of all of them.
fn median(results: Vec<Measurement>) -> Option<Measurement> {
    let mut commits: Vec<Duration> = results.iter().flat_map(|m| m.commits.clone()).collect();
    commits.sort();
    let mut m = median_by(results, Measurement::records_per_sec)?;
    m.commits = commits;
    Some(m)
}

/// Prints one measurement with its rate as a ratio of each of `versus` (JSON: the first
/// as `ratio`/`ratio_against`, all of them under `ratios`).
fn report(options: &Options, m: &Measurement, versus: &[(&str, f64)]) {
    let (p50, p99) = (m.percentile_ms(0.50), m.percentile_ms(0.99));
    if options.json {
        let (against, ratio) = match versus.first() {
            Some((name, ratio)) => (Some(*name), Some(*ratio)),
            None => (None, None),
        };
        let ratios: serde_json::Map<String, serde_json::Value> = versus
            .iter()
            .map(|(name, ratio)| (name.to_string(), json!(ratio)))
            .collect();
        println!(
            "{}",
            json!({"bench": m.name, "records": m.records, "seconds": m.elapsed.as_secs_f64(),
                   "records_per_sec": m.records_per_sec(), "mb_per_sec": m.mb_per_sec(),
                   "commits": m.commits.len(), "commit_p50_ms": p50, "commit_p99_ms": p99,
                   "ratio": ratio, "ratio_against": against, "ratios": ratios})
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
    let ratio = versus
        .iter()
        .map(|(n, r)| format!("{:>6.1}% of {n}", r * 100.0))
        .collect::<Vec<_>>()
        .join(", ");
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

fn open_log(dir: &Path, durability: Durability, partitions: u32) -> Result<Log> {
    let config = LogConfig {
        durability,
        segment_bytes_max: 512 << 20,
        ..LogConfig::default()
    };
    let log = Log::open(dir, config).map_err(failed("opening the log"))?;
    log.create_topic("bench", partitions)
        .map_err(failed("creating the topic"))?;
    Ok(log)
}

/// Sequential writes of `block_bytes`, each followed by fdatasync, for `budget`.
fn raw_fdatasync(dir: &Path, block_bytes: usize, budget: Duration) -> Result<Measurement> {
    use std::os::unix::fs::FileExt;
    let path = dir.join("raw.bin");
    let io = failed::<std::io::Error>;
    let file = std::fs::File::create(&path).map_err(io("creating the raw file"))?;
    let block = vec![0xa5u8; block_bytes];
    let started = Instant::now();
    let mut written = 0u64;
    while started.elapsed() < budget {
        file.write_all_at(&block, written)
            .map_err(io("writing the raw file"))?;
        file.sync_data().map_err(io("syncing the raw file"))?;
        written += block.len() as u64;
    }
    let elapsed = started.elapsed();
    drop(file);
    std::fs::remove_file(&path).map_err(io("removing the raw file"))?;
    Ok(Measurement {
        name: format!("raw write+fdatasync, {} KiB blocks", block_bytes / 1024),
        records: written / RECORD_BYTES as u64,
        elapsed,
        commits: Vec::new(),
    })
}

fn idempotent_appends(dir: &Path, records: &[Record], budget: Duration) -> Result<Measurement> {
    let log = open_log(dir, Durability::Immediate, 1)?;
    let started = Instant::now();
    let mut sequence = 0u64;
    while started.elapsed() < budget {
        let stamp = ProducerStamp {
            producer_id: ProducerId(1),
            epoch: ProducerEpoch(0),
            base_sequence: Sequence(sequence),
        };
        log.append("bench", 0, records, Some(stamp))
            .map_err(failed("appending"))?;
        sequence += records.len() as u64;
    }
    let elapsed = started.elapsed();
    log.close().map_err(failed("closing the log"))?;
    std::fs::remove_dir_all(dir).map_err(failed("removing the log"))?;
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
) -> Result<Measurement> {
    let log = open_log(dir, Durability::Immediate, 1)?;
    let mut producer = log
        .transactional_producer("bench", 60_000)
        .map_err(failed("creating the producer"))?;
    let interval = Duration::from_millis(interval_ms);
    let mut commits = Vec::new();
    let mut appended = 0u64;
    let started = Instant::now();
    while started.elapsed() < budget {
        producer.begin().map_err(failed("begin"))?;
        let since = Instant::now();
        while since.elapsed() < interval && started.elapsed() < budget {
            producer.send("bench", 0, records).map_err(failed("send"))?;
            appended += records.len() as u64;
        }
        let commit = Instant::now();
        producer.commit().map_err(failed("commit"))?;
        commits.push(commit.elapsed());
    }
    let elapsed = started.elapsed();
    drop(producer);
    log.close().map_err(failed("closing the log"))?;
    commits.sort();
    Ok(Measurement {
        name: format!("transactional append, commit every {interval_ms} ms"),
        records: appended,
        elapsed,
        commits,
    })
}

/// Median time of `opens` opens of the log in `dir`, checking each sees `ids` ids.
fn median_open(dir: &Path, config: &LogConfig, opens: usize, ids: u64) -> Result<Duration> {
    let mut times = Vec::new();
    for _ in 0..opens.max(1) {
        let started = Instant::now();
        let log = Log::open(dir, config.clone()).map_err(failed("opening the history"))?;
        times.push(started.elapsed());
        let seen = log
            .transactions()
            .map_err(failed("listing transactions"))?
            .len() as u64;
        if seen != ids {
            return Err(TxnBenchError {
                what: "the history".into(),
                reason: format!("{seen} transactional ids after open, {ids} written"),
            });
        }
        drop(log);
    }
    times.sort();
    times
        .get(times.len() / 2)
        .copied()
        .ok_or_else(|| TxnBenchError {
            what: "opens".into(),
            reason: "none measured".into(),
        })
}

fn open_times(options: &Options, dir: &Path) -> Result<()> {
    let config = LogConfig {
        durability: Durability::None,
        ..LogConfig::default()
    };
    let (transactions, ids) = (options.history_transactions, options.history_ids.max(1));
    let ids = ids.min(transactions.max(1));
    let built = Instant::now();
    {
        let log = Log::open(dir, config.clone()).map_err(failed("opening the history"))?;
        log.set_transaction_snapshot_interval(None);
        log.append_synthetic_transaction_history(transactions, ids)
            .map_err(failed("writing the history"))?;
        log.close().map_err(failed("closing the history"))?;
    }
    let built = built.elapsed();
    let before = median_open(dir, &config, options.opens, ids)?;
    {
        let log = Log::open(dir, config.clone()).map_err(failed("opening the history"))?;
        log.snapshot_transactions()
            .map_err(failed("writing the snapshot"))?;
        log.close().map_err(failed("closing the history"))?;
    }
    let after = median_open(dir, &config, options.opens, ids)?;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    if options.json {
        for (name, time, ratio) in [
            ("open without snapshot", before, None),
            ("open with snapshot", after, Some(ms(after) / ms(before))),
        ] {
            println!(
                "{}",
                json!({"bench": name, "transactions": transactions, "ids": ids,
                       "median_open_ms": ms(time), "opens": options.opens.max(1),
                       "history_build_seconds": built.as_secs_f64(),
                       "ratio": ratio, "ratio_against": ratio.map(|_| "open without snapshot")})
            );
        }
    } else {
        println!(
            "open after {transactions} transactions ({ids} ids, built in {:.1} s): \
             median {:.1} ms without snapshot, {:.1} ms with one ({:.2}%)",
            built.as_secs_f64(),
            ms(before),
            ms(after),
            ms(after) / ms(before) * 100.0
        );
    }
    std::fs::remove_dir_all(dir).map_err(failed("removing the history"))?;
    Ok(())
}

/// Prepares an input topic and copies it with both guarantees through `exactly log copy`
/// (child processes); returns (exactly-once, at-least-once).
fn copies(options: &Options, dir: &Path, rounds: usize) -> Result<(Measurement, Measurement)> {
    let count = options.copy_records;
    {
        let log = Log::open(
            dir,
            LogConfig {
                durability: Durability::None,
                ..LogConfig::default()
            },
        )
        .map_err(failed("opening the copy log"))?;
        log.create_topic("in", 1).map_err(failed("creating 'in'"))?;
        for round in 0..rounds {
            for name in [format!("out-eo-{round}"), format!("out-alo-{round}")] {
                log.create_topic(&name, 1)
                    .map_err(failed("creating an output topic"))?;
            }
        }
        let chunk = make_records(1000);
        let mut written = 0;
        while written < count {
            let n = chunk.len().min(count - written);
            let part = chunk.get(..n).ok_or_else(|| TxnBenchError {
                what: "the input".into(),
                reason: format!("chunk of {} records has no {n}", chunk.len()),
            })?;
            log.append("in", 0, part, None)
                .map_err(failed("writing the input"))?;
            written += n;
        }
        log.close().map_err(failed("closing the copy log"))?;
    }
    let run = |guarantee: &str, to: &str| -> Result<Measurement> {
        let output = Command::new(&options.exactly_exe)
            .args(["log", "copy", "--dir"])
            .arg(dir)
            .args(["--from", "in", "--to", to, "--group", to])
            .args(["--guarantee", guarantee])
            .output()
            .map_err(failed("running exactly log copy"))?;
        let what = format!("exactly log copy --guarantee {guarantee}");
        if !output.status.success() {
            return Err(TxnBenchError {
                what,
                reason: String::from_utf8_lossy(&output.stderr).into_owned(),
            });
        }
        let line = String::from_utf8_lossy(&output.stdout);
        let summary: serde_json::Value =
            serde_json::from_str(line.trim()).map_err(failed(format!("parsing {line}")))?;
        let field = |name: &str| {
            summary
                .get(name)
                .and_then(serde_json::Value::as_u64)
                .ok_or_else(|| TxnBenchError {
                    what: what.clone(),
                    reason: format!("no '{name}' in {line}"),
                })
        };
        let copied = field("copied")?;
        let elapsed_ms = field("elapsed_ms")?;
        if copied != count as u64 {
            return Err(TxnBenchError {
                what,
                reason: format!("copied {copied} of {count} records"),
            });
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
    let no_rounds = || TxnBenchError {
        what: "copies".into(),
        reason: "no rounds".into(),
    };
    let eo = median(eo).ok_or_else(no_rounds)?;
    let alo = median(alo).ok_or_else(no_rounds)?;
    Ok((eo, alo))
}
