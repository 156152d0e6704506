//! `exactly bench pipe`: arguments and printing of the pipe benchmark
//! ([`exactly_bench::pipe`]).

use super::{print_json_lines, Progress};
use exactly_bench::pipe::PipeBenchConfig;

/// Arguments of `exactly bench pipe`.
#[derive(clap::Args, Debug)]
pub struct PipeBenchArgs {
    // What to measure: the flags are `exactly_bench`'s settings.
    #[command(flatten)]
    config: PipeBenchConfig,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs the benchmark and prints its figures.
pub fn run(args: PipeBenchArgs) -> anyhow::Result<()> {
    let config = args.config;
    let progress = Progress::new("bench pipe");
    let report = exactly_bench::pipe::run(&config, &|step| progress.step(step))?;
    drop(progress);
    if args.json {
        return print_json_lines(&report.rows);
    }
    print!("{report}");
    Ok(())
}
