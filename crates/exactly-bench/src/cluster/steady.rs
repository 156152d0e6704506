//! The steady-state measurements on one cluster of `max_workers` workers: the fixed-rate
//! feed runs throughout ([`super::feed`]); after a warm-up the probes of a window give
//! the end-to-end latency ([`super::latency`]); then workers are killed one at a time
//! ([`super::recovery`]).

use super::feed::{Feed, ProbeTimes};
use super::latency::{quantile, ProbeWatch};
use super::recovery::{kill_and_measure, wait_steady, KillOutcome};
use super::session::Session;
use super::ClusterBenchConfig;
use crate::error::BenchError;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Time between two probes of one input partition.
const PROBE_INTERVAL: Duration = Duration::from_millis(250);
/// Longest wait for the window's last probes to reach the output.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);

/// What the steady-state session measured.
pub struct SteadyOutcome {
    /// Latencies (ms) of the window's probes, if latency was measured.
    pub latencies_ms: Option<Vec<f64>>,
    /// One per kill.
    pub kills: Vec<KillOutcome>,
    /// Ordinary transfers the feeder appended.
    pub fed: u64,
}

/// Runs the session: warm-up, latency window (if `latency`), then `kills` kills.
pub fn run(
    config: &ClusterBenchConfig,
    exe: &Path,
    latency: bool,
    kills: usize,
    progress: &mut dyn FnMut(&str),
) -> Result<SteadyOutcome, BenchError> {
    let workers = config.max_workers;
    let mut session = Session::start(config, exe.to_path_buf(), workers, "steady")?;
    session.submit()?;
    let feed = Feed {
        rate_per_sec: config.latency_rate,
        accounts: config.accounts,
        probe_interval: PROBE_INTERVAL,
    };
    let stop = AtomicBool::new(false);
    let sent = ProbeTimes::default();
    let feeder_nats = exactly_nats::NatsLog::connect(&session.server_url()).map_err(|e| {
        BenchError::Component {
            what: "connecting the feeder",
            source: Box::new(e),
        }
    })?;
    std::thread::scope(|scope| {
        let feeder = scope.spawn(|| feed.run(&feeder_nats, &stop, &sent));
        let measured = measure(config, &mut session, &sent, latency, kills, progress);
        stop.store(true, Ordering::SeqCst);
        let fed = feeder.join().map_err(|_| BenchError::ThreadPanicked)??;
        let (latencies_ms, kills) = measured?;
        Ok(SteadyOutcome {
            latencies_ms,
            kills,
            fed,
        })
    })
}

type Measured = (Option<Vec<f64>>, Vec<KillOutcome>);

fn measure(
    config: &ClusterBenchConfig,
    session: &mut Session,
    sent: &ProbeTimes,
    latency: bool,
    kills: usize,
    progress: &mut dyn FnMut(&str),
) -> Result<Measured, BenchError> {
    progress(&format!(
        "steady: {} workers, {} transfers/s, warming up",
        config.max_workers, config.latency_rate
    ));
    let mut watch = ProbeWatch::new();
    let warm_until = Instant::now() + Duration::from_secs(config.warmup_seconds);
    let mut pg = session.pg()?;
    wait_steady(session, &mut pg)?;
    while Instant::now() < warm_until {
        watch.poll(session)?;
        std::thread::sleep(super::latency::POLL);
    }
    let mut latencies = None;
    if latency {
        progress(&format!(
            "steady: latency window of {} s",
            config.latency_seconds
        ));
        let window = (
            Instant::now(),
            Instant::now() + Duration::from_secs(config.latency_seconds),
        );
        while Instant::now() < window.1 {
            watch.poll(session)?;
            std::thread::sleep(super::latency::POLL);
        }
        latencies = Some(watch.latencies_ms(session, sent, window, DRAIN_TIMEOUT)?);
        if let Some(p50) = latencies.as_deref().and_then(|l| quantile(l, 0.5)) {
            progress(&format!("steady: latency p50 {p50:.0} ms"));
        }
    }
    let mut outcomes = Vec::new();
    for kill in 0..kills {
        progress(&format!("steady: kill {} of {kills}", kill + 1));
        outcomes.push(kill_and_measure(session, kill % config.max_workers)?);
    }
    Ok((latencies, outcomes))
}
