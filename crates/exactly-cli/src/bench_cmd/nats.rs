//! `exactly bench nats`: arguments and printing of the NATS benchmark
//! ([`exactly_bench::nats`]).

use super::{print_json_lines, Progress};
use clap::Args;
use exactly_bench::nats::NatsBenchConfig;

/// Arguments of `exactly bench nats`.
#[derive(Args, Debug)]
pub struct NatsBenchArgs {
    // What to measure: the flags are `exactly_bench`'s settings.
    #[command(flatten)]
    config: NatsBenchConfig,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs the benchmark and prints its figures.
pub fn run(args: NatsBenchArgs) -> anyhow::Result<()> {
    let config = args.config;
    let progress = Progress::new("bench nats");
    let report = exactly_bench::nats::run_nats_bench(&config, &mut |step| progress.step(step))?;
    drop(progress);
    if args.json {
        print_json_lines(&report.publish)?;
        return print_json_lines(&report.jobs);
    }
    for figure in &report.publish {
        println!("{figure}");
    }
    for figure in &report.jobs {
        println!("{figure}");
    }
    Ok(())
}
