//! `exactly bench endpoint`: arguments and printing of the endpoint benchmark
//! ([`exactly_bench::endpoint`]).

use super::{print_json_lines, Progress};
use clap::Args;
use exactly_bench::endpoint::EndpointBenchConfig;
use std::path::PathBuf;

/// Arguments of `exactly bench endpoint`.
#[derive(Args, Debug)]
pub struct EndpointBenchArgs {
    /// PostgreSQL to measure.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    pg: String,
    /// Distinct messages for the one-transaction-per-message runs.
    #[arg(long, default_value_t = 2_000)]
    single_messages: u64,
    /// Distinct messages for the batched PostgreSQL run.
    #[arg(long, default_value_t = 50_000)]
    batched_messages: u64,
    /// Distinct messages for the embedded run.
    #[arg(long, default_value_t = 500_000)]
    embedded_messages: u64,
    /// Messages per transaction of the batched runs.
    #[arg(long, default_value_t = 4096)]
    batch: usize,
    /// Interleaved rounds; medians are reported.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Directory on the disk to measure (default: a temporary directory).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs the benchmark and prints its figures.
pub fn run(args: EndpointBenchArgs) -> anyhow::Result<()> {
    let config = EndpointBenchConfig {
        pg: args.pg,
        single_messages: args.single_messages,
        batched_messages: args.batched_messages,
        embedded_messages: args.embedded_messages,
        batch: args.batch,
        rounds: args.rounds,
        dir: args.dir,
    };
    let progress = Progress::new("bench endpoint");
    let report = exactly_bench::endpoint::run(&config, &|step| progress.step(step))?;
    drop(progress);
    if args.json {
        print_json_lines(&report.runs)?;
        return print_json_lines(&[report.journal]);
    }
    for run in &report.runs {
        println!(
            "{:<44} {:>9} msg/s  {:>6.2}× naive   inbox {:>8} ids: {:>5.1} B/id memory, {:>5.1} B/id disk",
            run.name, run.messages_per_s.round(), run.vs_naive, run.inbox_ids,
            run.inbox_memory_bytes_per_id, run.inbox_disk_bytes_per_id
        );
    }
    let j = &report.journal;
    println!(
        "{:<44} {:>6.1} MB/s journal, raw write+fdatasync of the same {} B blocks {:.1} MB/s: {:.0}% of raw",
        "embedded journal (physical limit)",
        j.journal_bytes_per_s / 1e6,
        j.block_bytes,
        j.raw_bytes_per_s / 1e6,
        j.percent_of_raw
    );
    Ok(())
}
