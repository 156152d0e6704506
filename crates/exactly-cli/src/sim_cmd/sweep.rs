//! `exactly sim sweep`: measured R and UR over a grid of loss rates × retry limits, next to
//! the analytic values.

use super::svg::{self, Point};
use super::{parse_list, NetArgs};
use anyhow::{ensure, Context};
use exactly_pipe::{PipeMode, Reliability};
use exactly_sim::{analytic, run as run_sim, SimConfig};
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;

/// Arguments of `exactly sim sweep`.
#[derive(clap::Args, Debug)]
pub struct SweepArgs {
    /// Pipe to sweep (the analytic UR curve is that of resend without de-dup, or 1 with it).
    #[arg(long, default_value = "resend")]
    pipe: PipeMode,
    /// Loss rates, comma-separated.
    #[arg(long, default_value = "0,0.05,0.1,0.2,0.3,0.4,0.5,0.6")]
    losses: String,
    /// Retry limits, comma-separated.
    #[arg(long, default_value = "0,1,2,4")]
    retries: String,
    /// Duplication probability on every point.
    #[arg(long, default_value_t = 0.0)]
    dup: f64,
    /// Messages per point.
    #[arg(long, default_value_t = 20_000)]
    messages: u64,
    /// Seed of the first point (each point adds its index).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Sender window. 1 (the default) keeps confirmations independent, which the analytic
    /// UR assumes; larger windows batch acks and correlate them.
    #[arg(long, default_value_t = 1)]
    window: u64,
    /// Write the table as CSV.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Write an SVG plot of measured R and UR against the analytic curves.
    #[arg(long)]
    svg: Option<PathBuf>,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    json: bool,
}

fn analytic_for(pipe: PipeMode, loss: f64, dup: f64, retries: u32) -> Reliability {
    let n = if pipe.resends() {
        Some(retries)
    } else {
        Some(0)
    };
    let r = analytic::reliability(loss, n);
    let ur = match pipe {
        PipeMode::Resend => analytic::uniqueness_resend(loss, dup, n),
        PipeMode::AtMostOnce => analytic::uniqueness_at_most_once(dup),
        _ => 1.0,
    };
    Reliability { r, ur }
}

/// Runs `exactly sim sweep`.
pub fn run(args: SweepArgs) -> anyhow::Result<()> {
    let losses: Vec<f64> = parse_list(&args.losses, "loss")?;
    let retries: Vec<u32> = parse_list(&args.retries, "retry limit")?;
    ensure!(
        losses.iter().all(|l| (0.0..1.0).contains(l)),
        "losses must be in [0, 1)"
    );
    let mut points = Vec::new();
    for (i, (&n, &loss)) in retries
        .iter()
        .flat_map(|n| losses.iter().map(move |l| (n, l)))
        .enumerate()
    {
        let net = NetArgs {
            loss,
            dup: args.dup,
            reorder: 0.0,
            corrupt: 0.0,
            partition_every_ms: 0,
            partition_for_ms: 0,
        }
        .to_config()?;
        let mut config = SimConfig::new(args.pipe, net, args.messages, args.seed + i as u64);
        config.retries_max = Some(n);
        config.in_flight_max = args.window;
        let report = run_sim(&config);
        points.push(Point {
            loss,
            retries: n,
            measured: report.end_to_end.reliability(),
            analytic: analytic_for(args.pipe, loss, args.dup, n),
        });
    }
    print_points(&args, &points);
    if let Some(path) = &args.csv {
        std::fs::write(path, csv(&points))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.svg {
        let title = format!(
            "{} pipe: measured R, UR (points) vs analytic (lines)",
            args.pipe
        );
        let (pipe, dup) = (args.pipe, args.dup);
        let curve = |loss, n| analytic_for(pipe, loss, dup, n);
        std::fs::write(path, svg::plot(&title, &points, &retries, curve))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn print_points(args: &SweepArgs, points: &[Point]) {
    let mut out = std::io::stdout().lock();
    if !args.json {
        let _ = writeln!(
            out,
            "{:>6} {:>7} {:>10} {:>10} {:>10} {:>10}  mode",
            "loss", "retries", "R", "R seed", "UR", "UR seed"
        );
    }
    for p in points {
        let mode = p.measured.mode().name();
        let _ = if args.json {
            let v = json!({"pipe": args.pipe.name(), "loss": p.loss, "retries": p.retries,
                "r": p.measured.r, "r_analytic": p.analytic.r, "ur": p.measured.ur,
                "ur_analytic": p.analytic.ur, "mode": mode});
            writeln!(out, "{v}")
        } else {
            writeln!(
                out,
                "{:>6.3} {:>7} {:>10.6} {:>10.6} {:>10.6} {:>10.6}  {mode}",
                p.loss, p.retries, p.measured.r, p.analytic.r, p.measured.ur, p.analytic.ur
            )
        };
    }
}

fn csv(points: &[Point]) -> String {
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
