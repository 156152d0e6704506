//! Scaling: the same distributed `balances-by-branch` job over the same generated input
//! on 1, 2 and 3 workers, each worker under the same CPU quota. A round's throughput is
//! input transfers over the time from the job's submission (the workers already
//! running) until its output holds the exact branch totals of the whole input and
//! `job status` shows a lag of 0.

use super::session::{Session, BRANCHES, INPUT, INPUT_PARTITIONS};
use super::ClusterBenchConfig;
use crate::error::{BenchError, Context};
use exactly_engine::generate::{GenKind, CHUNK_RECORDS};
use exactly_engine::jobs::{branch_of, Transfer};
use exactly_nats::generate::publish_generated;
use exactly_nats::TopicOptions;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// Seed of the generated transfers (every round gets the same input).
const SEED: u64 = 7;
/// Pause between two looks at the output and the status.
const POLL: Duration = Duration::from_millis(100);

/// What one round measured.
#[derive(Clone, Copy, Debug)]
pub struct ScalingRound {
    /// Workers.
    pub workers: usize,
    /// Seconds from submission to complete output and zero lag.
    pub seconds: f64,
    /// CPU seconds the workers used in the round.
    pub worker_cpu_seconds: Option<f64>,
    /// Seconds the CPU quota held the workers back.
    pub throttled_seconds: Option<f64>,
    /// CPU seconds nats-server used in the round.
    pub server_cpu_seconds: Option<f64>,
}

/// Runs one round on `workers` workers; `round` names its job and schema.
pub fn run_round(
    config: &ClusterBenchConfig,
    exe: &Path,
    workers: usize,
    round: usize,
    expected: &BTreeMap<String, i128>,
    progress: &mut dyn FnMut(&str),
) -> Result<ScalingRound, BenchError> {
    let tag = format!("s{round}n{workers}");
    let session = Session::start(config, exe.to_path_buf(), workers, &tag)?;
    progress(&format!(
        "round {}: {workers} worker(s), generating {} transfers",
        round + 1,
        config.transfers
    ));
    let kind = GenKind::Transfers {
        accounts: config.accounts,
    };
    let options = TopicOptions::default();
    publish_generated(
        &session.nats,
        INPUT,
        INPUT_PARTITIONS,
        &options,
        config.transfers,
        SEED,
        kind,
    )
    .during("publishing the input")?;
    let (cpu_before, throttled_before) = session.fleet.cpu();
    let server_before = session.server_cpu_seconds();
    progress(&format!(
        "round {}: {workers} worker(s) running the job",
        round + 1
    ));
    let started = Instant::now();
    session.submit()?;
    wait_until_done(&session, expected, config.round_timeout())?;
    let seconds = started.elapsed().as_secs_f64();
    let (cpu_after, throttled_after) = session.fleet.cpu();
    let server_after = session.server_cpu_seconds();
    Ok(ScalingRound {
        workers,
        seconds,
        worker_cpu_seconds: cpu_after.zip(cpu_before).map(|(a, b)| a - b),
        throttled_seconds: throttled_after.zip(throttled_before).map(|(a, b)| a - b),
        server_cpu_seconds: server_after.zip(server_before).map(|(a, b)| a - b),
    })
}

/// Waits until the output holds `expected` and the job's lag is 0.
fn wait_until_done(
    session: &Session,
    expected: &BTreeMap<String, i128>,
    timeout: Duration,
) -> Result<(), BenchError> {
    let started = Instant::now();
    let mut output = super::session::OutputWatch::new();
    loop {
        output.poll(&session.nats)?;
        if &output.last == expected {
            let status = session.status()?;
            if status.lag_records == Some(0) {
                return Ok(());
            }
        }
        if started.elapsed() > timeout {
            let status = session.status()?;
            return Err(BenchError::Check(format!(
                "job {} did not finish within {timeout:?}: lag {:?}, {} of {} branch totals \
                 right; status: {}",
                session.job,
                status.lag_records,
                expected
                    .iter()
                    .filter(|(k, v)| output.last.get(*k) == Some(v))
                    .count(),
                expected.len(),
                serde_json::to_string(&status).unwrap_or_default()
            )));
        }
        std::thread::sleep(POLL);
    }
}

/// The branch totals the job must end with, from the same records
/// `publish_generated` writes (chunk by chunk, as it generates them).
pub fn expected_totals(config: &ClusterBenchConfig) -> Result<BTreeMap<String, i128>, BenchError> {
    let kind = GenKind::Transfers {
        accounts: config.accounts,
    };
    let mut totals = BTreeMap::new();
    let mut first = 0;
    while first < config.transfers {
        let count = CHUNK_RECORDS.min(config.transfers - first);
        for record in kind.records(SEED, first, count).during("generating")? {
            let transfer: Transfer =
                serde_json::from_slice(&record.value).during("decoding a transfer")?;
            let amount = i128::from(transfer.amount);
            *totals
                .entry(branch_of(&transfer.from, BRANCHES))
                .or_insert(0) -= amount;
            *totals.entry(branch_of(&transfer.to, BRANCHES)).or_insert(0) += amount;
        }
        first += count;
    }
    Ok(totals)
}
