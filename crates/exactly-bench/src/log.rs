//! `bench log`: the embedded log against the disk's own limit, in one run.
//!
//! 1. raw sequential write + `fdatasync` bandwidth with 1 MiB blocks (the physical ceiling);
//! 2. durable appends (`Durability::Immediate`, group commit) of 100 B and 1 KiB records
//!    with 1 and 8 concurrent producers on one partition, idempotent and not. Each plain
//!    configuration is compared with raw write + `fdatasync` **of the same bytes per sync**
//!    (counted while it ran), measured right after it; idempotent ones with plain ones;
//! 3. sequential read of everything one configuration wrote, hot (just written, in the page
//!    cache) and cold (its files dropped from the page cache first);
//! 4. the CPU cost of idempotence (no fsync, small batches, alternating batch by batch);
//! 5. the cost of the durable-end evidence: one-record durable appends (100 B and 1 KiB,
//!    8 producers) with the evidence file on and off, interleaved, and raw write +
//!    `fdatasync` of the same bytes per sync.
//!
//! Every figure is the median of `rounds` interleaved rounds.

mod appends;
mod reads;

use crate::disk::raw_fdatasync_bytes;
use crate::error::{io_error, BenchError};
use crate::stats::median_by;
use appends::{appends, idempotence_cpu_cost, Config, Measurement};
use exactly_log::Durability;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Settings of the log benchmark.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct LogBenchConfig {
    /// Seconds per measurement.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 2.0))]
    pub seconds: f64,
    /// Directory on the disk to measure (default: a temporary directory).
    #[cfg_attr(feature = "clap", arg(long))]
    pub dir: Option<PathBuf>,
    /// Bytes of records per batch a producer hands to the log.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 1 << 20))]
    pub batch_bytes: usize,
    /// Interleaved rounds; medians are reported.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 3))]
    pub rounds: usize,
}

impl Default for LogBenchConfig {
    fn default() -> Self {
        Self {
            seconds: 2.0,
            dir: None,
            batch_bytes: 1 << 20,
            rounds: 3,
        }
    }
}

/// One reported figure (the median round).
#[derive(Clone, Debug, Serialize)]
pub struct LogFigure {
    /// What was measured.
    #[serde(rename = "bench")]
    pub name: String,
    /// Records in the median round.
    pub records: u64,
    /// Record bytes (payload) in the median round.
    pub bytes: u64,
    /// Duration of the median round.
    pub seconds: f64,
    /// Payload megabytes (10^6) per second.
    pub mb_per_sec: f64,
    /// Records per second.
    pub records_per_sec: f64,
    /// Segment bytes made durable per `fdatasync` (durable appends only).
    pub bytes_per_sync: Option<f64>,
    /// This figure divided by the one named in `ratio_against`.
    pub ratio: Option<f64>,
    /// The figure `ratio` compares with.
    pub ratio_against: Option<String>,
    /// Durable appends: MB/s divided by raw write + fdatasync of 1 MiB blocks (the
    /// ceiling), for comparison with earlier reports.
    pub ratio_to_raw_1mib: Option<f64>,
    /// MB/s of every round, in round order (the spread behind the median).
    pub rounds_mb_per_sec: Vec<f64>,
}

/// Everything `bench log` measured, in report order.
#[derive(Clone, Debug, Serialize)]
pub struct LogReport {
    /// The figures.
    pub figures: Vec<LogFigure>,
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

/// The configuration whose output is read back.
fn is_read_config(config: &Config) -> bool {
    config.record_bytes == 1024 && config.producers == 8 && config.idempotent
}

/// Rounds of one configuration: the appends and (plain ones) the raw baseline.
#[derive(Default)]
struct Series {
    appends: Vec<Measurement>,
    raw_same_block: Vec<Measurement>,
}

/// Runs the benchmark. `progress` is told what is being measured.
pub fn run(config: &LogBenchConfig, progress: &dyn Fn(&str)) -> Result<LogReport, BenchError> {
    if config.rounds == 0 || config.seconds <= 0.0 || config.batch_bytes == 0 {
        return Err(BenchError::Settings(
            "rounds, seconds and batch bytes must be positive".into(),
        ));
    }
    let parent = config.dir.clone().unwrap_or_else(std::env::temp_dir);
    let temp =
        tempfile::tempdir_in(&parent).map_err(io_error("creating a directory in", &parent))?;
    let budget = Duration::from_secs_f64(config.seconds);
    let mut raw = Vec::new();
    let mut series: Vec<Series> = CONFIGS.iter().map(|_| Series::default()).collect();
    let (mut hot, mut cold) = (Vec::new(), Vec::new());
    for round in 0..config.rounds {
        progress(&format!("round {}: raw write+fdatasync, 1 MiB", round + 1));
        raw.push(raw_measurement(temp.path(), 1 << 20, budget)?);
        // Alternate the order per round so no configuration always follows the same one.
        let mut order: Vec<usize> = (0..CONFIGS.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for i in order {
            let (Some(cfg), Some(s)) = (CONFIGS.get(i), series.get_mut(i)) else {
                continue;
            };
            progress(&format!("round {}: {}", round + 1, cfg.label()));
            let dir = temp.path().join(format!("round-{round}"));
            let m = appends(
                &dir,
                *cfg,
                config.batch_bytes,
                budget,
                Durability::Immediate,
                true,
            )?;
            if !cfg.idempotent {
                s.raw_same_block.push(raw_like(temp.path(), &m, budget)?);
            }
            s.appends.push(m);
            if is_read_config(cfg) {
                progress(&format!("round {}: reads, hot and cold", round + 1));
                hot.push(reads::sequential_read(&dir, "hot")?);
                crate::disk::drop_from_page_cache(&dir)?;
                cold.push(reads::sequential_read(&dir, "cold")?);
            }
            std::fs::remove_dir_all(&dir).map_err(io_error("removing", &dir))?;
        }
    }
    let mut figures = Vec::new();
    let raw_1mib = median_of(raw)?;
    let raw_1mib_rate = raw_1mib.mb_per_sec();
    figures.push(raw_1mib.figure(None));
    let mut plain_rate = 0.0f64;
    let mut append_1k = 0.0f64;
    for (cfg, s) in CONFIGS.iter().zip(series) {
        let m = median_of(s.appends)?;
        let to_raw_1mib = m.mb_per_sec() / raw_1mib_rate.max(1e-9);
        let append_rate = m.mb_per_sec();
        let mut figure = if cfg.idempotent {
            let ratio = m.records_per_sec() / plain_rate.max(1e-9);
            m.figure(Some(("non-idempotent", ratio)))
        } else {
            plain_rate = m.records_per_sec();
            let raw = median_of(s.raw_same_block)?;
            let ratio = m.mb_per_sec() / raw.mb_per_sec().max(1e-9);
            let against = raw.name.clone();
            figures.push(raw.figure(None));
            m.figure(Some((&against, ratio)))
        };
        figure.ratio_to_raw_1mib = Some(to_raw_1mib);
        if cfg.record_bytes == 1024 && cfg.producers == 8 && !cfg.idempotent {
            append_1k = append_rate;
        }
        figures.push(figure);
    }
    let hot = median_of(hot)?;
    let cold = median_of(cold)?;
    let hot_rate = hot.mb_per_sec();
    let versus_append = "1 KiB x8 durable append";
    figures.push(hot.figure(Some((versus_append, hot_rate / append_1k.max(1e-9)))));
    let cold_ratio = cold.mb_per_sec() / hot_rate.max(1e-9);
    figures.push(cold.figure(Some(("sequential read, hot", cold_ratio))));
    progress("idempotence CPU cost");
    let (plain, idempotent) = idempotence_cpu_cost(temp.path(), budget)?;
    let ratio = idempotent.records_per_sec() / plain.records_per_sec().max(1e-9);
    figures.push(plain.figure(None));
    figures.push(idempotent.figure(Some(("plain, no fsync (alternating)", ratio))));
    figures.extend(evidence_cost(config, temp.path(), budget, progress)?);
    Ok(LogReport { figures })
}

/// The durable-end evidence is one small `pwrite` after every group-commit fsync (and an
/// fsync of its file at most once a second): measured where it weighs most, one record per
/// durable append, 8 producers sharing each fsync. On and off alternate round by round in
/// the same run; medians are compared, and with raw write + fdatasync of the bytes per
/// sync that the evidence-off runs made.
fn evidence_cost(
    config: &LogBenchConfig,
    dir: &Path,
    budget: Duration,
    progress: &dyn Fn(&str),
) -> Result<Vec<LogFigure>, BenchError> {
    let mut figures = Vec::new();
    for record_bytes in [100, 1024] {
        let cfg = c(record_bytes, 8, false);
        let (mut on, mut off, mut raw) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..config.rounds {
            progress(&format!(
                "round {}: evidence on/off, {record_bytes} B",
                round + 1
            ));
            for evidence in [round % 2 == 0, round % 2 == 1] {
                let path = dir.join(format!("evidence-{round}-{evidence}"));
                let immediate = Durability::Immediate;
                let m = appends(&path, cfg, record_bytes, budget, immediate, evidence)?;
                std::fs::remove_dir_all(&path).map_err(io_error("removing", &path))?;
                match evidence {
                    true => on.push(m),
                    false => {
                        raw.push(raw_like(dir, &m, budget)?);
                        off.push(m);
                    }
                }
            }
        }
        let on = median_of(on)?;
        let off = median_of(off)?;
        let raw = median_of(raw)?;
        let off_ratio = off.mb_per_sec() / raw.mb_per_sec().max(1e-9);
        let raw_name = raw.name.clone();
        figures.push(raw.figure(None));
        let ratio = on.records_per_sec() / off.records_per_sec().max(1e-9);
        figures.push(off.figure(Some((&raw_name, off_ratio))));
        figures.push(on.figure(Some(("evidence off", ratio))));
    }
    Ok(figures)
}

fn median_of(results: Vec<Measurement>) -> Result<Measurement, BenchError> {
    let rounds: Vec<f64> = results.iter().map(Measurement::mb_per_sec).collect();
    let mut m = median_by(results, Measurement::mb_per_sec)
        .ok_or_else(|| BenchError::Settings("no rounds measured".into()))?;
    m.rounds_mb_per_sec = rounds;
    Ok(m)
}

/// Raw write + fdatasync with `block_bytes` blocks for `budget`.
fn raw_measurement(
    dir: &Path,
    block_bytes: usize,
    budget: Duration,
) -> Result<Measurement, BenchError> {
    let (written, elapsed) = raw_fdatasync_bytes(dir, block_bytes, budget)?;
    let name = match block_bytes {
        b if b == 1 << 20 => "raw write+fdatasync, 1 MiB blocks".to_string(),
        b => format!("raw write+fdatasync, {b} B blocks"),
    };
    Ok(Measurement {
        name,
        records: written / block_bytes as u64,
        bytes: written,
        elapsed,
        bytes_per_sync: Some(block_bytes as f64),
        rounds_mb_per_sec: Vec::new(),
    })
}

/// Raw write + fdatasync with blocks of the segment bytes per sync that `m` made (record
/// framing included: the disk wrote those bytes too), for the same `budget`.
fn raw_like(dir: &Path, m: &Measurement, budget: Duration) -> Result<Measurement, BenchError> {
    let Some(per_sync) = m.bytes_per_sync else {
        return Err(BenchError::Check(format!(
            "{}: no fdatasync counted",
            m.name
        )));
    };
    let block = per_sync.round().max(1.0) as usize;
    let mut raw = raw_measurement(dir, block, budget)?;
    raw.name = format!("raw write+fdatasync, same bytes per sync as {}", m.name);
    Ok(raw)
}

impl Measurement {
    fn figure(self, versus: Option<(&str, f64)>) -> LogFigure {
        LogFigure {
            mb_per_sec: self.mb_per_sec(),
            records_per_sec: self.records_per_sec(),
            name: self.name,
            records: self.records,
            bytes: self.bytes,
            seconds: self.elapsed.as_secs_f64(),
            bytes_per_sync: self.bytes_per_sync,
            ratio: versus.map(|(_, r)| r),
            ratio_against: versus.map(|(n, _)| n.to_string()),
            ratio_to_raw_1mib: None,
            rounds_mb_per_sec: self.rounds_mb_per_sec,
        }
    }
}
