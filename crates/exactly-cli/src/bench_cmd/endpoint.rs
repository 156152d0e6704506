//! `exactly bench endpoint`: arguments and printing of the endpoint benchmark
//! ([`exactly_bench::endpoint`]).

use super::{print_json_lines, Progress};
use clap::Args;
use exactly_bench::endpoint::EndpointBenchConfig;

/// Arguments of `exactly bench endpoint`.
#[derive(Args, Debug)]
pub struct EndpointBenchArgs {
    // What to measure: the flags are `exactly_bench`'s settings.
    #[command(flatten)]
    config: EndpointBenchConfig,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs the benchmark and prints its figures.
pub fn run(args: EndpointBenchArgs) -> anyhow::Result<()> {
    let config = args.config;
    let progress = Progress::new("bench endpoint");
    let report = exactly_bench::endpoint::run(&config, &|step| progress.step(step))?;
    drop(progress);
    if args.json {
        print_json_lines(&report.runs)?;
        return print_json_lines(&[report.journal]);
    }
    print!("{report}");
    Ok(())
}
