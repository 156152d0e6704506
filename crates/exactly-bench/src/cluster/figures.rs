//! The figures of `bench cluster`, from its rounds: medians, ratios, quantiles.

use super::latency::quantile;
use super::scaling::ScalingRound;
use super::steady::SteadyOutcome;
use super::ClusterBenchConfig;
use crate::stats::median;
use exactly_cluster::ClusterConfig;
use serde::Serialize;
use std::fmt;

/// Scaling at one worker count (the median round).
#[derive(Clone, Debug, Serialize)]
pub struct ScalingFigure {
    /// `cluster scaling`.
    pub bench: &'static str,
    /// Workers.
    pub workers: usize,
    /// CPU cores each worker may use.
    pub cpu_quota_cores: f64,
    /// Input transfers of each round.
    pub transfers: u64,
    /// Transfers per second, all workers (median round).
    pub transfers_per_sec: f64,
    /// Transfers per second per worker (median round).
    pub per_worker_transfers_per_sec: f64,
    /// Per-worker throughput over 1 worker's, same run.
    pub ratio_to_one_worker: Option<f64>,
    /// CPU seconds the workers used per 1,000 transfers (median round).
    pub worker_cpu_ms_per_1k_transfers: Option<f64>,
    /// CPU seconds nats-server used per 1,000 transfers (median round).
    pub server_cpu_ms_per_1k_transfers: Option<f64>,
    /// Time the workers were held back by their quota (`throttled_time` of `cpu.stat`)
    /// over the round's time, summed over workers and divided by their number (median
    /// round). The kernel sums `throttled_time` over the CPUs the group ran on, so this
    /// can exceed 1; it says whether the quota was binding, not by how much.
    pub throttled_share: Option<f64>,
    /// Seconds of every round, in round order.
    pub rounds_seconds: Vec<f64>,
}

/// End-to-end latency under a fixed input rate.
#[derive(Clone, Debug, Serialize)]
pub struct LatencyFigure {
    /// `cluster latency`.
    pub bench: &'static str,
    /// Workers.
    pub workers: usize,
    /// Input transfers per second.
    pub rate_per_sec: u64,
    /// The rate over the throughput the same number of workers reached (same run).
    pub rate_to_capacity: Option<f64>,
    /// Time between a task's checkpoints.
    pub checkpoint_interval_ms: u64,
    /// Probes measured.
    pub probes: usize,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Shortest, ms.
    pub min_ms: f64,
    /// Longest, ms.
    pub max_ms: f64,
}

/// Kill-to-recovery times.
#[derive(Clone, Debug, Serialize)]
pub struct RecoveryFigure {
    /// `cluster recovery`.
    pub bench: &'static str,
    /// Workers (one killed at a time).
    pub workers: usize,
    /// The task lease's length (the default).
    pub lease_ttl_ms: u64,
    /// The claim checked: lease + 2 s.
    pub claim_ms: u64,
    /// Median over kills of the time until every task of the killed worker ran
    /// elsewhere with a checkpoint committed at its new epoch.
    pub median_ms: f64,
    /// Longest.
    pub max_ms: f64,
    /// Median time until the tasks were only leased elsewhere (before their first
    /// checkpoint).
    pub median_owned_ms: f64,
    /// Every kill.
    pub kills: Vec<super::recovery::KillOutcome>,
}

/// Everything one run measured.
#[derive(Clone, Debug, Serialize)]
pub struct ClusterReport {
    /// One per worker count.
    pub scaling: Vec<ScalingFigure>,
    /// Latency, if measured.
    pub latency: Option<LatencyFigure>,
    /// Recovery, if measured.
    pub recovery: Option<RecoveryFigure>,
    /// The machine's 1-minute load average before and after the run.
    pub load_average: (Option<f64>, Option<f64>),
}

/// The 1-minute load average, `None` where `/proc/loadavg` is unreadable.
pub fn load_average() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// One figure per worker count from `rounds`.
pub fn scaling(config: &ClusterBenchConfig, rounds: &[ScalingRound]) -> Vec<ScalingFigure> {
    let transfers = config.transfers as f64;
    let mut figures: Vec<ScalingFigure> = Vec::new();
    for workers in 1..=config.max_workers {
        let mine: Vec<&ScalingRound> = rounds.iter().filter(|r| r.workers == workers).collect();
        let seconds: Vec<f64> = mine.iter().map(|r| r.seconds).collect();
        // The median rate is the rate of the median time (lower middle: the slower).
        let Some(mid) = median(&seconds.iter().map(|s| -s).collect::<Vec<_>>()).map(|s| -s) else {
            continue;
        };
        let round = mine.iter().find(|r| r.seconds == mid);
        let rate = transfers / mid.max(1e-9);
        let per_worker = rate / workers as f64;
        let one = figures.first().map(|f| f.per_worker_transfers_per_sec);
        figures.push(ScalingFigure {
            bench: "cluster scaling",
            workers,
            cpu_quota_cores: config.cpu_quota_cores,
            transfers: config.transfers,
            transfers_per_sec: rate,
            per_worker_transfers_per_sec: per_worker,
            ratio_to_one_worker: one.map(|one| per_worker / one),
            worker_cpu_ms_per_1k_transfers: round
                .and_then(|r| r.worker_cpu_seconds)
                .map(|cpu| cpu * 1e6 / transfers),
            server_cpu_ms_per_1k_transfers: round
                .and_then(|r| r.server_cpu_seconds)
                .map(|cpu| cpu * 1e6 / transfers),
            throttled_share: round
                .and_then(|r| r.throttled_seconds)
                .map(|t| t / mid / workers as f64),
            rounds_seconds: seconds,
        });
    }
    figures
}

/// The latency and recovery figures of the steady-state session.
pub fn steady(
    config: &ClusterBenchConfig,
    outcome: &SteadyOutcome,
    capacity: Option<f64>,
) -> (Option<LatencyFigure>, Option<RecoveryFigure>) {
    let latency = outcome.latencies_ms.as_deref().and_then(|l| {
        Some(LatencyFigure {
            bench: "cluster latency",
            workers: config.max_workers,
            rate_per_sec: config.latency_rate,
            rate_to_capacity: capacity.map(|c| config.latency_rate as f64 / c),
            checkpoint_interval_ms: config.checkpoint_interval_ms,
            probes: l.len(),
            p50_ms: quantile(l, 0.5)?,
            p99_ms: quantile(l, 0.99)?,
            min_ms: quantile(l, 0.0)?,
            max_ms: quantile(l, 1.0)?,
        })
    });
    let recovered: Vec<f64> = outcome.kills.iter().map(|k| k.recovered_ms).collect();
    let owned: Vec<f64> = outcome.kills.iter().map(|k| k.owned_ms).collect();
    let lease_ttl_ms = ClusterConfig::default().lease_ttl_ms;
    let recovery = median(&recovered).map(|median_ms| RecoveryFigure {
        bench: "cluster recovery",
        workers: config.max_workers,
        lease_ttl_ms,
        claim_ms: lease_ttl_ms + 2000,
        median_ms,
        max_ms: recovered.iter().copied().fold(0.0, f64::max),
        median_owned_ms: median(&owned).unwrap_or(0.0),
        kills: outcome.kills.clone(),
    });
    (latency, recovery)
}

impl fmt::Display for ClusterReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.scaling {
            writeln!(
                f,
                "scaling  {} worker(s) × {} core: {:.0} transfers/s, {:.0} per worker ({}), \
                 rounds {:?} s",
                s.workers,
                s.cpu_quota_cores,
                s.transfers_per_sec,
                s.per_worker_transfers_per_sec,
                s.ratio_to_one_worker
                    .map_or("baseline".into(), |r| format!("{r:.2}× of 1 worker")),
                s.rounds_seconds,
            )?;
        }
        if let Some(l) = &self.latency {
            writeln!(
                f,
                "latency  {} workers at {} transfers/s: p50 {:.0} ms, p99 {:.0} ms \
                 (min {:.0}, max {:.0}; {} probes; checkpoints every {} ms)",
                l.workers,
                l.rate_per_sec,
                l.p50_ms,
                l.p99_ms,
                l.min_ms,
                l.max_ms,
                l.probes,
                l.checkpoint_interval_ms
            )?;
        }
        if let Some(r) = &self.recovery {
            writeln!(
                f,
                "recovery {} kills of 1 of {} workers: median {:.0} ms, max {:.0} ms \
                 (leased elsewhere: median {:.0} ms; claim ≤ {} ms)",
                r.kills.len(),
                r.workers,
                r.median_ms,
                r.max_ms,
                r.median_owned_ms,
                r.claim_ms
            )?;
        }
        Ok(())
    }
}
