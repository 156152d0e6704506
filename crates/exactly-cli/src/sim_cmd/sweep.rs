//! `exactly sim sweep`: measured R and UR over a grid of loss rates × retry limits, next to
//! the analytic values (the sweep and the plot are `exactly_sim`'s; this prints and writes).

use super::parse_list;
use anyhow::Context;
use exactly_pipe::PipeMode;
use exactly_sim::{analytic_for, SweepConfig, SweepPoint};
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

/// Runs `exactly sim sweep`.
pub fn run(args: SweepArgs) -> anyhow::Result<()> {
    let config = SweepConfig {
        pipe: args.pipe,
        losses: parse_list(&args.losses, "loss")?,
        retries: parse_list(&args.retries, "retry limit")?,
        dup: args.dup,
        messages: args.messages,
        seed: args.seed,
        window: args.window,
    };
    let points = exactly_sim::sweep(&config)?;
    print_points(&args, &points);
    if let Some(path) = &args.csv {
        std::fs::write(path, exactly_sim::csv(&points))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.svg {
        let title = format!(
            "{} pipe: measured R, UR (points) vs analytic (lines)",
            args.pipe
        );
        let curve = |loss, n| analytic_for(config.pipe, loss, config.dup, n);
        let svg = exactly_sim::plot(&title, &points, &config.retries, curve);
        std::fs::write(path, svg).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn print_points(args: &SweepArgs, points: &[SweepPoint]) {
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
