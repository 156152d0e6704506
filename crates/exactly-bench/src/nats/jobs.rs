//! `run balances` on JetStream against the embedded log, exactly-once and at-least-once,
//! on the same generated input (same seed, count, accounts and 4 partitions), in one run.
//!
//! NATS is our own server with `sync_interval: always` (fsync per acknowledgment); the
//! embedded log has its default durability (group commit), so both acknowledge only what
//! is on disk. Every round runs each variant once, alternating the order; each figure is
//! the median round. A variant's rate is input records over the job's wall time
//! (recovery included, which is empty: each run is a new job).

use super::unique;
use crate::error::{io_error, BenchError, Context};
use crate::stats::median_by;
use exactly_engine::generate::{write_generated, GenKind, GenTarget};
use exactly_engine::jobs::{self, Rejected};
use exactly_engine::{Guarantee, RunOptions, SinkMode};
use exactly_log::{Log, LogConfig};
use exactly_nats::generate::publish_generated;
use exactly_nats::job_run::run_job;
use exactly_nats::{NatsLog, TopicOptions};
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

/// Accounts of the generated transfers.
const ACCOUNTS: u64 = 1000;
/// Partitions of the input.
const PARTITIONS: u32 = 4;
/// Seed of the generated transfers (both logs get the same records).
const SEED: u64 = 7;

/// One variant's figure (its median round).
#[derive(Clone, Debug, Serialize)]
pub struct NatsJobFigure {
    /// `run balances <log> <guarantee>`.
    pub bench: String,
    /// `nats <version>` or `exactly-log`.
    pub log: String,
    /// `exactly-once` or `at-least-once`.
    pub guarantee: &'static str,
    /// Input records of each run.
    pub records: u64,
    /// Input records per second of the median round.
    pub records_per_sec: f64,
    /// This variant over at-least-once on the same log (exactly-once rows only).
    pub ratio_to_at_least_once: Option<f64>,
    /// This variant over the embedded log with the same guarantee (NATS rows only).
    pub ratio_to_embedded: Option<f64>,
    /// Records/s of every round, in round order.
    pub rounds_records_per_sec: Vec<f64>,
}

/// Where a variant runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Where {
    Nats,
    Embedded,
}

const VARIANTS: [(Where, Guarantee); 4] = [
    (Where::Nats, Guarantee::ExactlyOnce),
    (Where::Nats, Guarantee::AtLeastOnce),
    (Where::Embedded, Guarantee::ExactlyOnce),
    (Where::Embedded, Guarantee::AtLeastOnce),
];

/// Measures the four variants on `transfers` records; `url` is the fsync-class server,
/// `work` a scratch directory.
pub(super) fn run_jobs(
    url: &str,
    work: &Path,
    transfers: u64,
    rounds: usize,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<NatsJobFigure>, BenchError> {
    progress(&format!("generating {transfers} transfers on both logs"));
    let log = NatsLog::connect(url).during("connecting")?;
    let version = log.server_version();
    let input = format!("bench.transfers.{}.{}", std::process::id(), unique());
    let kind = GenKind::Transfers { accounts: ACCOUNTS };
    let options = TopicOptions::default();
    publish_generated(&log, &input, PARTITIONS, &options, transfers, SEED, kind)
        .during("publishing the input on NATS")?;
    let embedded = work.join("embedded");
    let target = GenTarget {
        dir: embedded.clone(),
        topic: input.clone(),
        partitions: PARTITIONS,
        count: transfers,
        seed: SEED,
    };
    write_generated(&target, kind).during("writing the input to the embedded log")?;
    let mut rates: Vec<Vec<f64>> = VARIANTS.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        let mut order: Vec<usize> = (0..VARIANTS.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for i in order {
            let (Some(&(place, guarantee)), Some(rates)) = (VARIANTS.get(i), rates.get_mut(i))
            else {
                continue;
            };
            progress(&format!("round {}: {}", round + 1, name(place, guarantee)));
            let job = format!("bench{}x{round}v{i}", unique());
            let records = match place {
                Where::Nats => on_nats(&log, url, work, &input, &job, guarantee)?,
                Where::Embedded => embedded_run(&embedded, &input, &job, guarantee)?,
            };
            if records.0 != transfers {
                return Err(BenchError::Check(format!(
                    "{} read {} of {transfers} records",
                    name(place, guarantee),
                    records.0
                )));
            }
            rates.push(records.0 as f64 / records.1.max(1e-9));
        }
    }
    delete_if_exists(&log, &input)?;
    figures(&version, transfers, rates)
}

/// Deletes topic `name` if it exists (the bench leaves nothing on the server).
fn delete_if_exists(log: &NatsLog, name: &str) -> Result<(), BenchError> {
    match log.open_topic(name) {
        Ok(topic) => log.delete_topic(&topic).during("deleting a bench topic"),
        Err(exactly_nats::NatsError::TopicNotFound { .. }) => Ok(()),
        Err(error) => Err(error).during("opening a bench topic"),
    }
}

/// The figures from every variant's rounds.
fn figures(
    version: &str,
    transfers: u64,
    rates: Vec<Vec<f64>>,
) -> Result<Vec<NatsJobFigure>, BenchError> {
    let medians: Vec<f64> = rates
        .iter()
        .map(|r| median_by(r.clone(), |x| *x))
        .collect::<Option<_>>()
        .ok_or_else(|| BenchError::Settings("no rounds".into()))?;
    let median_of = |place, guarantee| {
        VARIANTS
            .iter()
            .zip(&medians)
            .find(|((p, g), _)| *p == place && *g == guarantee)
            .map(|(_, m)| *m)
    };
    let mut figures = Vec::new();
    for ((&(place, guarantee), rounds), median) in VARIANTS.iter().zip(rates).zip(&medians) {
        let log = match place {
            Where::Nats => format!("nats {version}"),
            Where::Embedded => "exactly-log".to_string(),
        };
        let at_least_once = median_of(place, Guarantee::AtLeastOnce);
        let embedded = median_of(Where::Embedded, guarantee);
        figures.push(NatsJobFigure {
            bench: format!("run balances {}", name(place, guarantee)),
            log,
            guarantee: guarantee_name(guarantee),
            records: transfers,
            records_per_sec: *median,
            ratio_to_at_least_once: (guarantee == Guarantee::ExactlyOnce)
                .then(|| at_least_once.map(|alo| median / alo))
                .flatten(),
            ratio_to_embedded: (place == Where::Nats)
                .then(|| embedded.map(|e| median / e))
                .flatten(),
            rounds_records_per_sec: rounds,
        });
    }
    Ok(figures)
}

/// `(records in, seconds)` of `job` run on NATS (write-ahead sink, the only exactly-once
/// mode there), its state in `work`.
fn on_nats(
    log: &NatsLog,
    url: &str,
    work: &Path,
    input: &str,
    job: &str,
    guarantee: Guarantee,
) -> Result<(u64, f64), BenchError> {
    let balances = jobs::balances(input, &format!("{job}.out"), Rejected::default()).named(job);
    let state = work.join(job);
    std::fs::create_dir_all(&state).map_err(io_error("creating", &state))?;
    let mut options = RunOptions::in_state_dir(state.clone(), guarantee);
    options.sink_mode = SinkMode::Idempotent;
    let started = Instant::now();
    let report = run_job(&balances, url, 1, &options, &TopicOptions::default())
        .during("running balances on NATS")?;
    let seconds = started.elapsed().as_secs_f64();
    std::fs::remove_dir_all(&state).map_err(io_error("removing", &state))?;
    let written = [
        balances.sink_topic().to_string(),
        balances.dead_letter_topic(),
        exactly_engine::journal_topic(job),
    ];
    for name in &written {
        delete_if_exists(log, name)?;
    }
    Ok((report.records_in, seconds))
}

/// `(records in, seconds)` of `job` run on the embedded log in `dir` (transactional sink
/// for exactly-once, the default there).
fn embedded_run(
    dir: &Path,
    input: &str,
    job: &str,
    guarantee: Guarantee,
) -> Result<(u64, f64), BenchError> {
    let balances = jobs::balances(input, &format!("{job}.out"), Rejected::default()).named(job);
    let log = Log::open(dir, LogConfig::default()).during("opening the log")?;
    let options = RunOptions::new(&log, &balances, guarantee);
    let started = Instant::now();
    let report = balances
        .run(&log, &options)
        .during("running balances on the embedded log")?;
    let seconds = started.elapsed().as_secs_f64();
    log.close().during("closing the log")?;
    Ok((report.records_in, seconds))
}

fn name(place: Where, guarantee: Guarantee) -> String {
    let log = match place {
        Where::Nats => "nats",
        Where::Embedded => "embedded",
    };
    format!("{log} {}", guarantee_name(guarantee))
}

fn guarantee_name(guarantee: Guarantee) -> &'static str {
    match guarantee {
        Guarantee::ExactlyOnce => "exactly-once",
        Guarantee::AtLeastOnce => "at-least-once",
        Guarantee::AtMostOnce => "at-most-once",
    }
}
