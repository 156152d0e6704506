//! `exactly bench log`: arguments and printing of the log benchmark
//! ([`exactly_bench::log`]).

use super::{print_json_lines, Progress};
use clap::Args;
use exactly_bench::log::{LogBenchConfig, LogFigure};
use std::path::PathBuf;

/// Arguments of `exactly bench log`.
#[derive(Args, Debug)]
pub struct LogBenchArgs {
    /// Seconds per measurement.
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// Directory on the disk to measure (default: a temporary directory).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Bytes of records per batch a producer hands to the log.
    #[arg(long, default_value_t = 1 << 20)]
    batch_bytes: usize,
    /// Interleaved rounds; medians are reported.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs the benchmark and prints its figures.
pub fn run(args: LogBenchArgs) -> anyhow::Result<()> {
    let config = LogBenchConfig {
        seconds: args.seconds,
        dir: args.dir,
        batch_bytes: args.batch_bytes,
        rounds: args.rounds,
    };
    let progress = Progress::new("bench log");
    let report = exactly_bench::log::run(&config, &|step| progress.step(step))?;
    drop(progress);
    if args.json {
        return print_json_lines(&report.figures);
    }
    for figure in &report.figures {
        print_figure(figure);
    }
    Ok(())
}

fn print_figure(f: &LogFigure) {
    let ratio = match (&f.ratio, &f.ratio_against) {
        (Some(r), Some(against)) => format!("{:>6.1}% of {against}", r * 100.0),
        _ => String::new(),
    };
    let per_sync = f
        .bytes_per_sync
        .map_or(String::new(), |b| format!("{:>9.0} B/sync", b));
    println!(
        "{:<44} {:>9.1} MB/s {:>12.0} rec/s {per_sync:>14}   {ratio}",
        f.name, f.mb_per_sec, f.records_per_sec
    );
}
