//! `exactly bench cluster`: arguments and printing of the distributed-jobs benchmark
//! ([`exactly_bench::cluster`]). The workers it starts are this same binary.

use super::{print_json_lines, Progress};
use clap::Args;
use exactly_bench::cluster::ClusterBenchConfig;

/// Arguments of `exactly bench cluster`.
#[derive(Args, Debug)]
pub struct ClusterBenchArgs {
    // What to measure: the flags are `exactly_bench`'s settings.
    #[command(flatten)]
    config: ClusterBenchConfig,
    /// Print JSON lines (one per figure) instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs the benchmark and prints its figures.
pub fn run(args: ClusterBenchArgs) -> anyhow::Result<()> {
    let exe = crate::exactly_exe()?;
    let progress = Progress::new("bench cluster");
    let report = exactly_bench::cluster::run(&args.config, &exe, &mut |step| progress.step(step))?;
    drop(progress);
    if !args.json {
        print!("{report}");
        return Ok(());
    }
    print_json_lines(&report.scaling)?;
    print_json_lines(&report.latency.iter().collect::<Vec<_>>())?;
    print_json_lines(&report.recovery.iter().collect::<Vec<_>>())?;
    let machine = serde_json::json!({
        "bench": "cluster machine",
        "load_average_before": report.load_average.0,
        "load_average_after": report.load_average.1,
        "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
    });
    println!("{machine}");
    Ok(())
}
