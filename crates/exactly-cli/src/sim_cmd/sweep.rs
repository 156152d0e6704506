//! `exactly sim sweep`: measured R and UR over a grid of loss rates × retry limits, next to
//! the analytic values (the sweep and the plot are `exactly_sim`'s; this prints and writes).

use anyhow::Context;
use exactly_pipe::PipeMode;
use exactly_sim::sweep_format::{json_lines, parse_list, plot_sweep, table};
use exactly_sim::SweepConfig;
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
    if args.json {
        for line in json_lines(args.pipe, &points) {
            println!("{line}");
        }
    } else {
        println!("{}", table(&points));
    }
    if let Some(path) = &args.csv {
        std::fs::write(path, exactly_sim::csv(&points))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.svg {
        std::fs::write(path, plot_sweep(&config, &points))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
