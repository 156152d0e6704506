//! `exactly bench log`: arguments and printing of the log benchmark
//! ([`exactly_bench::log`]).

use super::{print_json_lines, Progress};
use clap::Args;
use exactly_bench::log::LogBenchConfig;

/// Arguments of `exactly bench log`.
#[derive(Args, Debug)]
pub struct LogBenchArgs {
    // What to measure: the flags are `exactly_bench`'s settings.
    #[command(flatten)]
    config: LogBenchConfig,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs the benchmark and prints its figures.
pub fn run(args: LogBenchArgs) -> anyhow::Result<()> {
    let config = args.config;
    let progress = Progress::new("bench log");
    let report = exactly_bench::log::run(&config, &|step| progress.step(step))?;
    drop(progress);
    if args.json {
        return print_json_lines(&report.figures);
    }
    for figure in &report.figures {
        println!("{figure}");
    }
    Ok(())
}
