//! `bench cluster`: distributed jobs on real `exactly worker` processes, on our own
//! nats-server and the local PostgreSQL, every worker under the same CPU quota (a cgroup
//! v1 `cpu` group each, [`cgroup`]):
//!
//! - **scaling** ([`scaling`]): the same `balances-by-branch` job over the same input on
//!   1, 2, … `max_workers` workers, rounds alternating (1, 2, 3, 1, 2, 3, …), each on a
//!   fresh server, schema and job; per-worker throughput and its ratio to 1 worker;
//! - **latency** ([`latency`], [`feed`]): p50/p99 from input append to the first output
//!   that reflects it, under a fixed input rate below capacity;
//! - **recovery** ([`recovery`]): SIGKILL of one of the workers until every task it owned
//!   runs elsewhere and has committed a checkpoint at its new epoch.
//!
//! Latency and recovery share one steady-state cluster ([`steady`]); [`session`] starts
//! and removes a cluster, [`workers`] the worker processes, [`figures`] turns rounds into
//! figures.

pub mod cgroup;
pub mod feed;
pub mod figures;
pub mod latency;
pub mod recovery;
pub mod scaling;
pub mod session;
pub mod steady;
pub mod workers;

pub use figures::{ClusterReport, LatencyFigure, RecoveryFigure, ScalingFigure};

use crate::error::BenchError;
use std::path::Path;
use std::time::Duration;

/// Settings of the cluster benchmark.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct ClusterBenchConfig {
    /// Rounds per worker count (alternating); medians are reported.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 3))]
    pub rounds: usize,
    /// Input transfers of each scaling round.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 100_000))]
    pub transfers: u64,
    /// Accounts of the transfers.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 10_000))]
    pub accounts: u64,
    /// Workers of the largest cluster (scaling runs 1..=this; latency and recovery run
    /// on this many).
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 3))]
    pub max_workers: usize,
    /// CPU cores each worker may use (a cgroup v1 CFS quota).
    #[cfg_attr(feature = "clap", arg(long = "cpu-quota", default_value_t = 0.5))]
    pub cpu_quota_cores: f64,
    /// The job's key groups.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 4))]
    pub key_groups: u32,
    /// Time between a task's checkpoints.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 1000))]
    pub checkpoint_interval_ms: u64,
    /// Input rate of the latency and recovery measurements, transfers per second.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 1000))]
    pub latency_rate: u64,
    /// Length of the latency window, seconds.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 30))]
    pub latency_seconds: u64,
    /// Warm-up before the latency window, seconds.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 10))]
    pub warmup_seconds: u64,
    /// Workers killed (one at a time) for the recovery time.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 5))]
    pub kills: usize,
    /// PostgreSQL of the cluster (a schema per round, dropped after it).
    #[cfg_attr(
        feature = "clap",
        arg(
            long = "cluster",
            value_name = "postgres://…",
            default_value = "postgres://postgres@127.0.0.1:5432/test"
        )
    )]
    pub pg_url: String,
    /// What to measure (`scaling`, `latency`, `recovery`; default: all).
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            value_delimiter = ',',
            default_value = "scaling,latency,recovery"
        )
    )]
    pub only: Vec<String>,
}

impl Default for ClusterBenchConfig {
    fn default() -> Self {
        ClusterBenchConfig {
            rounds: 3,
            transfers: 100_000,
            accounts: 10_000,
            max_workers: 3,
            cpu_quota_cores: 0.5,
            key_groups: 4,
            checkpoint_interval_ms: 1000,
            latency_rate: 1000,
            latency_seconds: 30,
            warmup_seconds: 10,
            kills: 5,
            pg_url: "postgres://postgres@127.0.0.1:5432/test".into(),
            only: PARTS.iter().map(|p| p.to_string()).collect(),
        }
    }
}

/// The parts the benchmark knows.
const PARTS: [&str; 3] = ["scaling", "latency", "recovery"];

impl ClusterBenchConfig {
    /// Longest a scaling round may take before the job counts as stalled.
    pub fn round_timeout(&self) -> Duration {
        Duration::from_secs((self.transfers / 500).max(180))
    }

    fn wants(&self, part: &str) -> bool {
        self.only.iter().any(|p| p == part)
    }

    fn check(&self) -> Result<(), BenchError> {
        if let Some(part) = self.only.iter().find(|p| !PARTS.contains(&p.as_str())) {
            return Err(BenchError::Settings(format!(
                "unknown part {part:?}: expected {}",
                PARTS.join(", ")
            )));
        }
        if self.rounds == 0 || self.max_workers == 0 || self.transfers == 0 {
            return Err(BenchError::Settings(
                "rounds, max workers and transfers must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// Runs the benchmark with `exe` as the `exactly` binary the workers run.
pub fn run(
    config: &ClusterBenchConfig,
    exe: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<ClusterReport, BenchError> {
    config.check()?;
    let load_before = figures::load_average();
    let mut scaling = Vec::new();
    if config.wants("scaling") {
        let expected = scaling::expected_totals(config)?;
        let mut rounds = Vec::new();
        for round in 0..config.rounds {
            for workers in 1..=config.max_workers {
                let index = round * config.max_workers + workers;
                rounds.push(scaling::run_round(
                    config, exe, workers, index, &expected, progress,
                )?);
            }
        }
        scaling = figures::scaling(config, &rounds);
    }
    let capacity = (scaling.iter())
        .find(|f| f.workers == config.max_workers)
        .map(|f| f.transfers_per_sec);
    let (latency, recovery) = if config.wants("latency") || config.wants("recovery") {
        let kills = if config.wants("recovery") {
            config.kills
        } else {
            0
        };
        let outcome = steady::run(config, exe, config.wants("latency"), kills, progress)?;
        figures::steady(config, &outcome, capacity)
    } else {
        (None, None)
    };
    Ok(ClusterReport {
        scaling,
        latency,
        recovery,
        load_average: (load_before, figures::load_average()),
    })
}
