//! The sweep: measured R and UR over a grid of loss rates × retry limits, each point next
//! to the analytic values it should approach, and the grid as CSV.

use crate::analytic;
use crate::faults::{Faults, FaultsError};
use crate::run::{run, SimConfig};
use exactly_pipe::{PipeMode, Reliability};

/// What to sweep.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepConfig {
    /// The pipe on every point.
    pub pipe: PipeMode,
    /// Loss rates (each in `[0, 1)`).
    pub losses: Vec<f64>,
    /// Retry limits.
    pub retries: Vec<u32>,
    /// Duplication probability on every point.
    pub dup: f64,
    /// Messages per point.
    pub messages: u64,
    /// Seed of the first point; point `i` (retry-major order) uses `seed + i`.
    pub seed: u64,
    /// Sender in-flight window. 1 keeps confirmations independent, which the analytic UR
    /// assumes; larger windows batch acks and correlate them.
    pub window: u64,
}

/// One point of the sweep.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SweepPoint {
    /// Loss probability.
    pub loss: f64,
    /// Retry limit.
    pub retries: u32,
    /// Measured end to end.
    pub measured: Reliability,
    /// The analytic values (R = 1 − pⁿ⁺¹ and friends).
    pub analytic: Reliability,
}

/// Why a sweep cannot run.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SweepError {
    /// A loss rate outside `[0, 1)`.
    #[error("losses must be in [0, 1), got {0}")]
    Loss(f64),
    /// The faults of a point are not simulable.
    #[error(transparent)]
    Faults(#[from] FaultsError),
}

/// The analytic R and UR of `pipe` for one hop with loss `loss`, duplication `dup` and up
/// to `retries` resends (pipes that never resend make one attempt). UR is that of resend
/// without de-duplication, of at-most-once, or 1 for the de-duplicating pipes.
pub fn analytic_for(pipe: PipeMode, loss: f64, dup: f64, retries: u32) -> Reliability {
    let n = Some(if pipe.resends() { retries } else { 0 });
    let r = analytic::reliability(loss, n);
    let ur = match pipe {
        PipeMode::Resend => analytic::uniqueness_resend(loss, dup, n),
        PipeMode::AtMostOnce => analytic::uniqueness_at_most_once(dup),
        _ => 1.0,
    };
    Reliability { r, ur }
}

/// Runs one simulation per (retry limit, loss) pair, retry-major, and returns the points
/// in that order.
pub fn sweep(config: &SweepConfig) -> Result<Vec<SweepPoint>, SweepError> {
    if let Some(&bad) = config.losses.iter().find(|l| !(0.0..1.0).contains(*l)) {
        return Err(SweepError::Loss(bad));
    }
    let grid = config
        .retries
        .iter()
        .flat_map(|&n| config.losses.iter().map(move |&l| (n, l)));
    let mut points = Vec::new();
    for (i, (n, loss)) in grid.enumerate() {
        let net = Faults {
            loss,
            dup: config.dup,
            ..Faults::default()
        }
        .to_config()?;
        let mut sim = SimConfig::new(config.pipe, net, config.messages, config.seed + i as u64);
        sim.retries_max = Some(n);
        sim.in_flight_max = config.window;
        let report = run(&sim);
        points.push(SweepPoint {
            loss,
            retries: n,
            measured: report.end_to_end.reliability(),
            analytic: analytic_for(config.pipe, loss, config.dup, n),
        });
    }
    Ok(points)
}

/// The points as CSV: `loss,retries,r,r_analytic,ur,ur_analytic,mode`, one row each.
pub fn csv(points: &[SweepPoint]) -> String {
    let mut s = String::from("loss,retries,r,r_analytic,ur,ur_analytic,mode\n");
    for p in points {
        s.push_str(&format!(
            "{},{},{},{},{},{},{}\n",
            p.loss,
            p.retries,
            p.measured.r,
            p.analytic.r,
            p.measured.ur,
            p.analytic.ur,
            p.measured.mode().name()
        ));
    }
    s
}
